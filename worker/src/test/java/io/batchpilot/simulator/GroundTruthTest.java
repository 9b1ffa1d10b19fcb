package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchpilot.files.FileValidator;
import io.batchpilot.files.OnDisk;
import io.batchpilot.files.FileValidatorConfig;
import io.batchpilot.files.ImagePreprocessor;
import io.batchpilot.files.ImagePreprocessorConfig;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class GroundTruthTest {

    private static JsonNode extracted(GeminiSimulator sim, byte[] bytes, String mimeType) throws Exception {
        SimulatorHttp.Reply r = SimulatorHttp.generate(sim, "m", "k", SimulatorHttp.fileRequest(bytes, mimeType));
        assertEquals(200, r.status(), r.raw());
        return SimulatorHttp.JSON.readTree(r.body().get("candidates").get(0).get("content").get("parts").get(0).get("text").asText());
    }

    @Test
    void pngJpegAndPdfReturnTheirGroundTruth() throws Exception {
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            for (SyntheticReceipts.Sample s : SyntheticReceipts.sampleSet(16)) {
                assertEquals(SimulatorHttp.parsed(s.truth().toJson()), extracted(sim, s.bytes(), s.mimeType()), s.filename());
            }
        }
    }

    @Test
    void groundTruthSurvivesPreprocessing() throws Exception {
        ImagePreprocessor preprocessor = new ImagePreprocessor(ImagePreprocessorConfig.defaults());
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            byte[] photo = SyntheticReceipts.jpeg(4242, 3000, 1.4, 0.9f);
            ImagePreprocessor.Result small = preprocessor.process(
                    new FileValidator(FileValidatorConfig.defaults()).validate("photo.jpg", OnDisk.copyOf(photo), "image/jpeg"));
            assertTrue(small.bytes().length < photo.length);
            assertEquals(SimulatorHttp.parsed(SyntheticReceipts.receipt(4242).toJson()), extracted(sim, small.bytes(), small.mimeType()));
        }
    }

    @Test
    void anUnknownImageGetsAStableReceiptDerivedFromItsHash() throws Exception {
        byte[] plain = java.util.Base64.getDecoder().decode(
                "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==");
        assertEquals(Optional.empty(), SyntheticReceipts.seedOf(plain, "image/png"));
        try (GeminiSimulator sim = GeminiSimulator.start(SimulatorConfig.defaults())) {
            JsonNode first = extracted(sim, plain, "image/png");
            assertEquals(first, extracted(sim, plain, "image/png"));
            assertNotEquals(SimulatorHttp.parsed(SyntheticReceipts.receipt(0).toJson()), first);
        }
    }
}
