package dev.caldera4j.eval;

import dev.caldera4j.util.Progress;
import dev.caldera4j.model.LanguageModel;
import dev.caldera4j.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Runs the evaluation protocol (DESIGN "Evaluation protocol") on one model. */
public final class Evaluator {
    /**
     * Longest model input for LAMBADA and HellaSwag; longer contexts are cut from the left as
     * lm-eval does with its max_length (2048 for Qwen2 stand-ins). LAMBADA's longest item is 238
     * tokens with standin-small's tokenizer, so this never bites there.
     */
    public static final int ZERO_SHOT_MAX_LENGTH = 2048;

    private Evaluator() {}

    /**
     * The data of the chosen sets, tokenized where tokenizing depends only on the text: load once,
     * then evaluate many models.
     *
     * @param tokens    (N) token ids of each chosen perplexity set's whole text
     * @param lambada   empty when LAMBADA is not chosen
     * @param hellaSwag empty when HellaSwag is not chosen
     */
    public record Inputs(Map<EvalSet, int[]> tokens, List<Lambada.Item> lambada, List<HellaSwag.Task> hellaSwag,
                         Set<EvalSet> sets) {
        public Inputs {
            tokens = Map.copyOf(tokens);
            lambada = List.copyOf(lambada);
            hellaSwag = List.copyOf(hellaSwag);
            sets = Set.copyOf(sets);
        }
    }

    /** Loads and tokenizes the chosen sets from {@code evalDir} (see {@link EvalData#defaultDir()}). */
    public static Inputs load(Tokenizer tokenizer, Path evalDir, Set<EvalSet> sets) {
        Map<EvalSet, int[]> tokens = new EnumMap<>(EvalSet.class);
        if (sets.contains(EvalSet.WIKITEXT2)) {
            tokens.put(EvalSet.WIKITEXT2, tokenizer.encode(EvalData.wikitext2(evalDir)));
        }
        if (sets.contains(EvalSet.C4)) {
            tokens.put(EvalSet.C4, tokenizer.encode(EvalData.c4(evalDir)));
        }
        List<Lambada.Item> lambada = sets.contains(EvalSet.LAMBADA) ? EvalData.lambada(evalDir) : List.of();
        List<HellaSwag.Task> hellaSwag = sets.contains(EvalSet.HELLASWAG) ? EvalData.hellaSwag(evalDir) : List.of();
        return new Inputs(tokens, lambada, hellaSwag, sets);
    }

    /**
     * Loads the sets from {@link EvalData#defaultDir()} and evaluates with progress on stderr.
     *
     * @param seqlens perplexity window lengths; empty → the mode's (quick: 512; full: 2048, 512)
     */
    public static EvalReport run(LanguageModel model, Tokenizer tokenizer, EvalMode mode, Set<EvalSet> sets,
                                 List<Integer> seqlens) {
        return run(model, tokenizer, load(tokenizer, EvalData.defaultDir(), sets), mode, seqlens, true);
    }

    /**
     * Evaluates {@code model} on prepared inputs.
     *
     * @param seqlens  perplexity window lengths; empty → the mode's
     * @param progress draw progress (a bar in a terminal, plain lines otherwise) on stderr
     */
    public static EvalReport run(LanguageModel model, Tokenizer tokenizer, Inputs inputs, EvalMode mode,
                                 List<Integer> seqlens, boolean progress) {
        checkVocab(model, tokenizer.vocabSize(), "the tokenizer's");
        // tokenize only the items this mode scores (one thread); scoring then runs on all cores
        List<Loglikelihood.Pair> lambada = inputs.sets().contains(EvalSet.LAMBADA)
                ? Lambada.encode(tokenizer, inputs.lambada(), count(inputs.lambada().size(), mode.lambadaItems)) : List.of();
        List<HellaSwag.Encoded> hellaSwag = inputs.sets().contains(EvalSet.HELLASWAG)
                ? HellaSwag.encode(tokenizer, inputs.hellaSwag(), count(inputs.hellaSwag().size(), mode.hellaSwagTasks)) : List.of();
        return runEncoded(model, inputs.tokens(), lambada, hellaSwag, inputs.sets(), mode, seqlens, progress);
    }

    /**
     * Evaluates {@code model} on evaluation sets tokenized elsewhere (a machine without the
     * tokenizer): the same numbers as {@link #run(LanguageModel, Tokenizer, Inputs, EvalMode, List, boolean)}.
     */
    public static EvalReport run(LanguageModel model, TokenizedEval t, EvalMode mode, List<Integer> seqlens, boolean progress) {
        checkVocab(model, t.vocabSize(), "the evaluation tokens'");
        return runEncoded(model, t.tokens(), t.lambada(), t.hellaSwag(), t.sets(), mode, seqlens, progress);
    }

    private static void checkVocab(LanguageModel model, int vocab, String whose) {
        if (model.vocabSize() < vocab) {
            throw new IllegalArgumentException("model vocabulary " + model.vocabSize() + " is smaller than " + whose + " "
                    + vocab + ": the model and tokenizer do not belong together");
        }
    }

    private static EvalReport runEncoded(LanguageModel model, Map<EvalSet, int[]> texts, List<Loglikelihood.Pair> lambadaPairs,
                                         List<HellaSwag.Encoded> hellaSwagTasks, Set<EvalSet> sets, EvalMode mode,
                                         List<Integer> seqlens, boolean progress) {
        List<Integer> lengths = seqlens.isEmpty() ? mode.seqlens : seqlens;
        List<EvalReport.Ppl> ppls = new ArrayList<>();
        for (int seqlen : lengths) {
            for (EvalSet set : List.of(EvalSet.WIKITEXT2, EvalSet.C4)) {
                int[] tokens = texts.get(set);
                if (tokens == null) {
                    continue;
                }
                int windows = Perplexity.windowCount(tokens.length, seqlen, mode.maxWindows);
                try (Progress p = progress(set.label + " ppl@" + seqlen, windows, progress)) {
                    ppls.add(new EvalReport.Ppl(set, Perplexity.compute(model, tokens, seqlen, mode.maxWindows, p)));
                }
            }
        }
        Lambada.Result lambada = null;
        if (sets.contains(EvalSet.LAMBADA)) {
            int n = count(lambadaPairs.size(), mode.lambadaItems);
            try (Progress p = progress("lambada", n, progress)) {
                lambada = Lambada.evaluateEncoded(model, lambadaPairs, n, ZERO_SHOT_MAX_LENGTH, p);
            }
        }
        HellaSwag.Result hellaSwag = null;
        if (sets.contains(EvalSet.HELLASWAG)) {
            int n = count(hellaSwagTasks.size(), mode.hellaSwagTasks);
            try (Progress p = progress("hellaswag", n, progress)) {
                hellaSwag = HellaSwag.evaluateEncoded(model, hellaSwagTasks, n, ZERO_SHOT_MAX_LENGTH, p);
            }
        }
        return new EvalReport(mode, ppls, lambada, hellaSwag);
    }

    private static int count(int available, int max) {
        return max > 0 ? Math.min(available, max) : available;
    }

    private static Progress progress(String task, int total, boolean show) {
        return show ? Progress.start(task, total) : Progress.none();
    }
}
