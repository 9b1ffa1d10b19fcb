package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.gemini.ReceiptSchema;
import io.batchpilot.gemini.TokenCounter;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class SimulatorTokenizerTest {

    @Test
    void smallImagesCost258AndLargerOnesTheCropUnitsTiles() {
        assertEquals(258, SimulatorTokenizer.image(384, 384));
        assertEquals(258, SimulatorTokenizer.image(10, 300));
        // Google's own example: 960x540 has a crop unit of 360, so 3 x 2 tiles.
        assertEquals(6 * 258, SimulatorTokenizer.image(960, 540));
        // A square is 2 x 2 at any size above 384 px: the unit grows with the image.
        assertEquals(4 * 258, SimulatorTokenizer.image(385, 385));
        assertEquals(4 * 258, SimulatorTokenizer.image(4000, 4000));
        // A thumbnail receipt, 300 x 420: unit 200, 2 x 3 tiles.
        assertEquals(6 * 258, SimulatorTokenizer.image(300, 420));
        assertThrows(IllegalArgumentException.class, () -> SimulatorTokenizer.image(0, 10));
    }

    @Test
    void pdfPagesCost258Each() throws IOException {
        assertEquals(3 * 258, SimulatorTokenizer.file(SyntheticReceipts.pdf(5, 3), "application/pdf"));
    }

    @Test
    void textSplitsDigitsAndCountsWordsSymbolsAndWhitespace() {
        assertEquals(0, SimulatorTokenizer.text(""));
        assertEquals(1, SimulatorTokenizer.text("receipt"));       // 7 letters: one token
        assertEquals(2, SimulatorTokenizer.text("receipts"));      // 8 letters: two
        assertEquals(2, SimulatorTokenizer.text("the store"));     // the space joins "store"
        assertEquals(5, SimulatorTokenizer.text("55.45"));         // four digits, one symbol
        assertEquals(3, SimulatorTokenizer.text("a\n\nb"));        // a, the newlines, b
        assertEquals(1, SimulatorTokenizer.text("\":"));           // two symbols: one token
        assertEquals(2, SimulatorTokenizer.text("\":\""));         // three: two
        assertEquals(2, SimulatorTokenizer.text("収据"));            // an ideograph each
        assertEquals(4, SimulatorTokenizer.text("\uD83E\uDDFE"));  // an emoji: its 4 UTF-8 bytes
    }

    @Test
    void theExtractionPromptIsNearFourCharactersATokenAndStillNotTheClientsCount() {
        long simulated = SimulatorTokenizer.text(ReceiptSchema.PROMPT);
        long clients = TokenCounter.DEFAULT.textTokens(ReceiptSchema.PROMPT);
        double charsPerToken = ReceiptSchema.PROMPT.length() / (double) simulated;
        assertTrue(charsPerToken > 3 && charsPerToken < 5, "prose near Google's 4 characters a token: " + charsPerToken);
        assertNotEquals(clients, simulated, "the client's first estimate has something to learn");
    }

    @Test
    void aFileThatIsNotTheImageItClaimsIsRefused() {
        assertThrows(IOException.class, () -> SimulatorTokenizer.file(new byte[] {1, 2, 3}, "image/png"));
        assertThrows(IOException.class, () -> SimulatorTokenizer.file(new byte[] {1, 2, 3}, "audio/mpeg"));
    }
}
