// Starts one OpenSearch node in this JVM for the tests: HTTP on loopback, single-node, no security manager.
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

/**
 * Usage: TestSearchNode HOME. Both ports are chosen by the OS when they are bound (port 0), so no other process can
 * take them between a choice and the bind; once the node has started, the HTTP port is written to HOME/http.port
 * (written whole, then renamed into place, so a reader never sees half of it). The distribution's launcher (Bootstrap) is skipped on
 * purpose: it installs a security manager, checks for jar hell and runs the production bootstrap checks, none of
 * which a throwaway test node needs. Node's protected constructor takes plugin classes from the classpath, which
 * is how the Netty HTTP transport gets in without a plugins folder.
 */
public final class TestSearchNode {
    /** Node with the plugins given as classes; the constructor is protected in Node. */
    private static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment) {
            super(environment, List.of(Netty4Plugin.class), true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: TestSearchNode HOME");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        for (String dir : List.of("config", "data", "logs", "plugins", "modules")) {
            Files.createDirectories(home.resolve(dir));
        }
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "mimecast-collector-test")
            .put("node.name", "test-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", 0)
            .put("transport.port", 0)
            .put("discovery.type", "single-node")
            // A nearly full disk must not turn the test's indices read-only or leave shards unassigned.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        // Without a log4j2 file the node logs errors only; the test helper shows this log's tail when start-up fails.
        Files.writeString(home.resolve("config").resolve("log4j2.properties"), String.join("\n",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.target = SYSTEM_OUT",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%c{1.}] %m%n",
            "rootLogger.level = info",
            "rootLogger.appenderRef.console.ref = console",
            ""));
        LogConfigurator.registerErrorListener();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), home.resolve("config"), () -> "test-node");
        LogConfigurator.configure(environment);
        Node node = new ClasspathNode(environment);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "test-node-shutdown"));
        node.start();
        int httpPort = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        Path portFile = home.resolve("http.port");
        Path partial = home.resolve("http.port.partial");
        Files.writeString(partial, Integer.toString(httpPort));
        Files.move(partial, portFile, StandardCopyOption.ATOMIC_MOVE);
        System.out.println("test-search-node started http=127.0.0.1:" + httpPort);
        closed.await();
    }
}
