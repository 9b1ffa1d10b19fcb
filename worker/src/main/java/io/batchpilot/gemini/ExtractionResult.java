package io.batchpilot.gemini;

/**
 * A successful receipt extraction.
 *
 * @param receipt      the parsed receipt
 * @param usage        the response's token counts
 * @param modelVersion the model version that answered ({@code modelVersion}), or null if not given
 * @param responseId   Google's id for the response ({@code responseId}), or null if not given
 * @param rawJson      the candidate's JSON text as the model returned it, for storage and audit
 */
public record ExtractionResult(Receipt receipt, Usage usage, String modelVersion, String responseId, String rawJson) {
}
