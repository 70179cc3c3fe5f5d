package dev.caldera4j.cli;

import dev.caldera4j.model.Generator;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Sampler;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text from a prompt (greedy, or temperature + top-p sampling).")
final class GenerateCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, description = "HF model directory or llama2.c .bin")
    Path model;

    @Option(names = {"-p", "--prompt"}, defaultValue = "", description = "prompt text (empty: start from BOS)")
    String prompt;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "64", description = "tokens to generate (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = {"-t", "--temperature"}, defaultValue = "0", description = "0 = greedy (default ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-p", defaultValue = "0.9", description = "nucleus mass when sampling (default ${DEFAULT-VALUE})")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "sampler seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--gpu", description = "generate on the GPU engine (greedy; decode steps replayed from a CUDA graph)")
    boolean gpu;

    @Override
    public Integer call() {
        Qwen2Model m = Models.load(model);
        Path tokDir = java.nio.file.Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        Tokenizer tok = Tokenizers.load(tokDir);
        int[] ids = tok.encode(prompt);
        int bos = tok.bosId();
        if (bos >= 0 && (ids.length == 0 || m.config().modelType().equals("llama"))) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = bos;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            ids = withBos;
        }
        if (ids.length == 0) throw new IllegalArgumentException("empty prompt and the tokenizer has no BOS: give --prompt");
        if (gpu) return generateOnGpu(m, tok, ids);
        // decode prompt + continuation and print the growing suffix: multi-byte characters split across
        // tokens and tokenizers that strip a leading space both come out right
        final int[] context = ids;
        String promptText = tok.decode(context);
        System.out.print(promptText);
        System.out.flush();
        var out = new java.util.ArrayList<Integer>();
        final int[] printed = {promptText.length()};
        Generator.Result r = Generator.generate(m, ids, maxTokens, new Sampler(temperature, topP, seed), tok.eosId(), t -> {
            out.add(t);
            int[] all = java.util.Arrays.copyOf(context, context.length + out.size());
            for (int i = 0; i < out.size(); i++) all[context.length + i] = out.get(i);
            String text = tok.decode(all);
            if (!text.endsWith("\uFFFD") && text.length() > printed[0]) {
                System.out.print(text.substring(printed[0]));
                System.out.flush();
                printed[0] = text.length();
            }
        });
        System.out.println();
        System.err.printf("[%d prompt tokens at %.0f tok/s, %d generated at %.1f tok/s on the CPU]%n",
                ids.length, r.promptTokensPerSecond(), r.tokens().length, r.decodeTokensPerSecond());
        return 0;
    }

    private int generateOnGpu(Qwen2Model m, Tokenizer tok, int[] ids) {
        if (temperature != 0)
            throw new IllegalArgumentException("--gpu samples greedily: drop --temperature (or run without --gpu to sample)");
        try (dev.caldera4j.gpu.Gpu g = dev.caldera4j.gpu.Gpu.open();
             dev.caldera4j.gpu.Engine e = dev.caldera4j.gpu.Engine.load(g, m.weights(),
                     dev.caldera4j.gpu.Engine.Options.defaults(ids.length + maxTokens + 1), System.err)) {
            long t0 = System.nanoTime();
            int[] out = e.generate(ids, maxTokens, true);
            double s = (System.nanoTime() - t0) / 1e9;
            int n = 0;
            while (n < out.length && out[n] != tok.eosId()) n++;
            int[] all = java.util.Arrays.copyOf(ids, ids.length + n);
            System.arraycopy(out, 0, all, ids.length, n);
            System.out.println(tok.decode(all));
            System.err.printf("[%d prompt + %d generated tokens in %.3f s on %s (engine: %s)]%n", ids.length, out.length, s, g.deviceName,
                    e.describe());
        }
        return 0;
    }
}
