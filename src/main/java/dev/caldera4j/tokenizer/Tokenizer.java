package dev.caldera4j.tokenizer;

/** Text ↔ token ids. Implementations: HF tokenizer.json (byte-level BPE) and llama2.c's tok512. */
public interface Tokenizer {
    /** Token ids of {@code text}, with no special tokens added. */
    int[] encode(String text);

    /** Text of {@code ids}; special tokens are dropped. */
    String decode(int[] ids);

    int vocabSize();

    /** Beginning-of-sequence id, or -1 if the tokenizer has none. */
    int bosId();

    /** End-of-sequence id, or -1 if the tokenizer has none. */
    int eosId();
}
