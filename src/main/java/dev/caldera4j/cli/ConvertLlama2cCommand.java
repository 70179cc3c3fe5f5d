package dev.caldera4j.cli;

import dev.caldera4j.io.DType;
import dev.caldera4j.model.HfWriter;
import dev.caldera4j.model.Llama2c;
import dev.caldera4j.model.Qwen2Weights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;

@Command(name = "convert-llama2c", mixinStandardHelpOptions = true,
        description = "Convert a llama2.c checkpoint (e.g. stories260K.bin) into an HF model directory.")
final class ConvertLlama2cCommand implements Callable<Integer> {

    @Option(names = "--bin", required = true, description = "llama2.c checkpoint (.bin)")
    Path bin;

    @Option(names = "--tokenizer", description = "llama2.c tokenizer (tok512.bin …), copied beside the weights")
    Path tokenizer;

    @Option(names = {"-o", "--out"}, required = true, description = "output directory")
    Path out;

    @Override
    public Integer call() throws Exception {
        Qwen2Weights w = Llama2c.load(bin);
        HfWriter.write(w, out, DType.F32);
        if (tokenizer != null) {
            Files.copy(tokenizer, out.resolve(tokenizer.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        }
        System.out.printf("wrote %s: %s, %d layers, hidden %d, vocab %d (float32)%n", out, w.config().modelType(),
                w.config().numLayers(), w.config().hiddenSize(), w.config().vocabSize());
        return 0;
    }
}
