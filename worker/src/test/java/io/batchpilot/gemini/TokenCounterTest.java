package io.batchpilot.gemini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.batchpilot.files.OnDisk;
import io.batchpilot.simulator.SyntheticReceipts;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class TokenCounterTest {

    @Test
    void imagesUpTo384PxOnBothSidesCostOneTile() {
        assertEquals(258, TokenCounter.imageTokens(1, 1));
        assertEquals(258, TokenCounter.imageTokens(384, 384));
        assertEquals(258, TokenCounter.imageTokens(200, 384));
    }

    @Test
    void largerImagesCost258PerCovering768Tile() {
        assertEquals(258, TokenCounter.imageTokens(385, 384));
        assertEquals(258, TokenCounter.imageTokens(768, 768));
        assertEquals(2 * 258, TokenCounter.imageTokens(769, 768));
        assertEquals(2 * 3 * 258, TokenCounter.imageTokens(1000, 2000));
        assertEquals(4 * 6 * 258, TokenCounter.imageTokens(3024, 4032));
    }

    @Test
    void pdfPagesCost258Each() {
        assertEquals(0, TokenCounter.pdfTokens(0));
        assertEquals(3 * 258, TokenCounter.pdfTokens(3));
    }

    @Test
    void textCostsCharactersOverTheRatioRoundedUp() {
        assertEquals(0, TokenCounter.DEFAULT.textTokens(""));
        assertEquals(1, TokenCounter.DEFAULT.textTokens("abc"));
        assertEquals(1, TokenCounter.DEFAULT.textTokens("abcd"));
        assertEquals(2, TokenCounter.DEFAULT.textTokens("abcde"));
        assertEquals(3, new TokenCounter(2.0).textTokens("abcde"));
        assertThrows(IllegalArgumentException.class, () -> new TokenCounter(0));
    }

    @Test
    void fileTokensReadDimensionsAndPagesFromTheBytes() throws IOException {
        assertEquals(258, TokenCounter.fileTokens(SyntheticReceipts.png(1, 300, 1.2), "image/png"));
        // 900 x 1800: 2 x 3 tiles
        assertEquals(6 * 258, TokenCounter.fileTokens(SyntheticReceipts.jpeg(1, 900, 2.0, 0.8f), "image/jpeg"));
        assertEquals(2 * 258, TokenCounter.fileTokens(SyntheticReceipts.pdf(1, 2), "application/pdf"));
        assertThrows(IOException.class, () -> TokenCounter.fileTokens(new byte[] {1, 2, 3}, "image/png"));
        assertThrows(IOException.class, () -> TokenCounter.fileTokens(new byte[] {1}, "audio/mpeg"));
    }

    @Test
    void aFileOnDiskCountsAsItsBytesDo() throws IOException {
        assertEquals(6 * 258, TokenCounter.fileTokens(OnDisk.copyOf(SyntheticReceipts.jpeg(1, 900, 2.0, 0.8f)), "image/jpeg"));
        assertEquals(3 * 258, TokenCounter.fileTokens(OnDisk.copyOf(SyntheticReceipts.pdf(1, 3)), "application/pdf"));
        assertThrows(IOException.class, () -> TokenCounter.fileTokens(OnDisk.copyOf(new byte[] {1, 2, 3}), "image/png"));
        assertThrows(IOException.class, () -> TokenCounter.fileTokens(OnDisk.copyOf(new byte[] {1}), "audio/mpeg"));
    }
}
