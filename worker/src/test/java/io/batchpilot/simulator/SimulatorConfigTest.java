package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SimulatorConfigTest {

    @Test
    void flagsAndEnvironmentBuildTheConfig() {
        SimulatorConfig c = SimulatorConfig.parse(new String[] {"--port", "8089", "--window=2s", "--rpm", "10", "--tpm", "250000",
            "--model-limits", "gemini-embedding-001=100/30000/1000", "--free-tier", "--latency", "uniform:10ms,50ms",
            "--fault", "overloaded=0.02", "--fault", "connection-reset=0.01", "--slow-response", "40s", "--seed", "7"},
                Map.of("BATCHPILOT_SIM_RPD", "250", "BATCHPILOT_SIM_API_KEY", "k1,k2", "BATCHPILOT_SIM_RPM", "99"));
        assertEquals(8089, c.port());
        assertEquals(Duration.ofSeconds(2), c.window());
        assertEquals(new ModelLimits(10, 250000, 250), c.defaultLimits(), "a flag wins over the environment");
        assertEquals(new ModelLimits(100, 30000, 1000), c.limitsFor("gemini-embedding-001"));
        assertTrue(c.freeTier());
        assertEquals(LatencyDistribution.uniform(Duration.ofMillis(10), Duration.ofMillis(50)), c.latency());
        assertEquals(0.02, c.faults().rates().get(Fault.OVERLOADED));
        assertEquals(0.01, c.faults().rates().get(Fault.CONNECTION_RESET));
        assertEquals(Duration.ofSeconds(40), c.faults().slowResponseDelay());
        assertEquals(7, c.seed());
        assertEquals(Set.of("k1", "k2"), c.apiKeys());
    }

    @Test
    void badSettingsAreRefusedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> SimulatorConfig.parse(new String[] {"--rpm", "ten"}, Map.of())).getMessage().contains("--rpm"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> SimulatorConfig.parse(new String[] {"--window", "soon"}, Map.of())).getMessage().contains("--window"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> SimulatorConfig.parse(new String[] {"--fault", "gremlins=0.1"}, Map.of())).getMessage().contains("gremlins"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> SimulatorConfig.parse(new String[] {"--nope", "1"}, Map.of())).getMessage().contains("--nope"));
    }

    @Test
    void toStringNamesKeysByFingerprintOnly() {
        SimulatorConfig c = SimulatorConfig.defaults().withApiKeys(Set.of("AIzaSy-canary-123"));
        assertFalse(c.toString().contains("canary"));
        assertTrue(c.toString().contains(GeminiSimulator.fingerprint("AIzaSy-canary-123")));
    }

    @Test
    void latencyDistributionsDrawWhatTheySay() {
        Random r = new Random(5);
        LatencyDistribution uniform = LatencyDistribution.uniform(Duration.ofMillis(10), Duration.ofMillis(20));
        LatencyDistribution lognormal = LatencyDistribution.lognormal(Duration.ofMillis(100), 0.5);
        long[] draws = new long[20_001];
        for (int i = 0; i < draws.length; i++) {
            long u = uniform.sample(r).toNanos();
            assertTrue(u >= 10_000_000 && u <= 20_000_000);
            draws[i] = lognormal.sample(r).toNanos();
        }
        java.util.Arrays.sort(draws);
        assertEquals(100e6, draws[draws.length / 2], 5e6, "the lognormal's median is the configured one");
        assertEquals(Duration.ofMillis(30), LatencyDistribution.fixed(Duration.ofMillis(30)).sample(r));
    }
}
