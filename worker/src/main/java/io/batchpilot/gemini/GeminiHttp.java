package io.batchpilot.gemini;

import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.net.SocketFactory;
import okhttp3.OkHttpClient;

/** The one way our Gemini clients talk HTTP: the configured timeouts, no silent resend, no redirect. */
final class GeminiHttp {

    private static final Pattern MODEL_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    private GeminiHttp() {}

    /** The model's id in a request path: "gemini-2.5-flash" or "models/gemini-2.5-flash", checked. */
    static String modelId(String model) throws GeminiException {
        String id = model != null && model.startsWith("models/") ? model.substring("models/".length()) : model;
        if (id == null || !MODEL_ID.matcher(id).matches()) {
            throw new GeminiException(GeminiError.INVALID_REQUEST,
                    "'" + model + "' is not a Gemini model id (such as gemini-2.5-flash): check the session's model");
        }
        return id;
    }

    static OkHttpClient client(GeminiConfig config) {
        return new OkHttpClient.Builder()
                .connectTimeout(config.connectTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .readTimeout(config.readTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .writeTimeout(config.readTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .callTimeout(config.callTimeout().toMillis(), TimeUnit.MILLISECONDS)
                // A silent resend would spend quota the QuotaGate never granted (or enqueue a second batch
                // job): failures surface instead.
                .retryOnConnectionFailure(false)
                // OkHttp keeps custom headers across redirects, even to another host: never follow one.
                .followRedirects(false)
                .followSslRedirects(false)
                .socketFactory(new NoDelaySocketFactory())
                .build();
    }

    /**
     * Sockets with Nagle's algorithm off. A request larger than one 8 KiB write (any inline image)
     * otherwise waits for the server's delayed ACK on a reused connection: about 40 ms a call.
     */
    private static final class NoDelaySocketFactory extends SocketFactory {
        private final SocketFactory delegate = SocketFactory.getDefault();

        @Override
        public Socket createSocket() throws IOException {
            return noDelay(delegate.createSocket());
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return noDelay(delegate.createSocket(host, port));
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
            return noDelay(delegate.createSocket(host, port, localHost, localPort));
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return noDelay(delegate.createSocket(host, port));
        }

        @Override
        public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
            return noDelay(delegate.createSocket(address, port, localAddress, localPort));
        }

        private static Socket noDelay(Socket socket) throws IOException {
            socket.setTcpNoDelay(true);
            return socket;
        }
    }
}
