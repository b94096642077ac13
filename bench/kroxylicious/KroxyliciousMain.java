/*
 * Starts Kroxylicious' KafkaProxy from a YAML configuration file, as the
 * kroxylicious-app distribution's main class would (that artifact is not
 * on Maven Central). Run in source-file mode:
 *
 *   java -cp '.cache/kroxylicious/libs/*' bench/kroxylicious/KroxyliciousMain.java proxy.yaml
 *
 * Prints "KROXYLICIOUS READY" once the listeners are bound, then blocks
 * until the process is signalled.
 */
import io.kroxylicious.proxy.KafkaProxy;
import io.kroxylicious.proxy.config.ConfigParser;
import io.kroxylicious.proxy.config.Configuration;
import io.kroxylicious.proxy.internal.config.Features;

import java.nio.file.Files;
import java.nio.file.Path;

public class KroxyliciousMain {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: KroxyliciousMain CONFIG.yaml");
            System.exit(2);
        }
        ConfigParser parser = new ConfigParser();
        Configuration config =
                parser.parseConfiguration(Files.readString(Path.of(args[0])));
        try (KafkaProxy proxy =
                     new KafkaProxy(parser, config, Features.defaultFeatures())) {
            proxy.startup();
            System.out.println("KROXYLICIOUS READY");
            System.out.flush();
            proxy.block();
        }
    }
}
