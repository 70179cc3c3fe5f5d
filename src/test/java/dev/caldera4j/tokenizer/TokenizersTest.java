package dev.caldera4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizersTest {

    @Test
    void picksByFile() {
        Tokenizer hf = Tokenizers.load(SharedData.require("data/models/standin-small"));
        try (HfTokenizer h = assertInstanceOf(HfTokenizer.class, hf)) {
            assertEquals(8192, h.vocabSize());
        }
        Tokenizer l = Tokenizers.load(SharedData.require("data/models/stories260K"));
        assertInstanceOf(Llama2cTokenizer.class, l);
        assertEquals(512, l.vocabSize());
    }

    @Test
    void errorsSayWhatWasLookedFor(@TempDir Path empty) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(empty));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("tok512.bin")
                && e.getMessage().contains(empty.toString()), e.getMessage());
        Path qwen2 = SharedData.require("data/tokenizers/qwen2");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(qwen2));
        assertTrue(e.getMessage().contains("Qwen2TokenizerBuilder"), e.getMessage());
    }
}
