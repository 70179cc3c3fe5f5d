/**
 * The evaluation protocol of DESIGN "Evaluation protocol" and the results-file format.
 *
 * <p>Decisions, with the evidence they rest on (standin-small's MODEL_CARD.md is the reference):
 * <ul>
 *   <li><b>WikiText-2 text</b>: every line of wiki.test.raw keeps its "\n" (blank rows are the
 *       file's " \n" lines) and rows are joined by "\n\n". With standin-small's tokenizer this
 *       gives exactly the card's 381,159 tokens; rows without their "\n" give 376,801, blank rows
 *       as "" give 378,225, the raw file alone 372,445. C4: records joined by "\n\n" give exactly
 *       270,822.</li>
 *   <li><b>No BOS, floor(N/seqlen) windows</b>: 381,159 tokens → 744 windows of 512 and 186 of
 *       2048, 270,822 → 528 and 132, as the card lists; the tokenizer's bos_token is null.</li>
 *   <li><b>Predicted tokens</b>: seqlen−1 per window (each window starts from an empty context);
 *       GPTQ's exp(mean of per-window losses) is the same number since all windows are equal.</li>
 *   <li><b>LAMBADA / HellaSwag pairs</b>: lm-eval-harness's _encode_pair (whole string minus the
 *       context's tokens). With standin-small's tokenizer this equals tokenizing " " + word (or
 *       " " + ending) on its own for all 5,153 LAMBADA items and all 40,168 HellaSwag endings,
 *       and the context's tokens are always a prefix of the whole's.</li>
 *   <li><b>acc_norm</b>: log-prob / characters of the ending without its leading space
 *       (lm-eval's len(choice)), not llama.cpp's per-token mean.</li>
 * </ul>
 */
package dev.caldera4j.eval;
