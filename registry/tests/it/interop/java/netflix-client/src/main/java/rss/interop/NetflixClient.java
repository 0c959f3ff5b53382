package rss.interop;

import com.netflix.appinfo.ApplicationInfoManager;
import com.netflix.appinfo.InstanceInfo;
import com.netflix.appinfo.InstanceInfo.InstanceStatus;
import com.netflix.appinfo.MyDataCenterInstanceConfig;
import com.netflix.appinfo.providers.EurekaConfigBasedInstanceInfoProvider;
import com.netflix.discovery.DefaultEurekaClientConfig;
import com.netflix.discovery.DiscoveryClient;
import com.netflix.discovery.Jersey3DiscoveryClientOptionalArgs;
import com.netflix.discovery.shared.transport.jersey3.Jersey3TransportClientFactories;
import jakarta.ws.rs.client.ClientRequestFilter;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Netflix's own eureka-client (Jersey 3 transport) as a service would run it, driven by the
 * registry's interop tests over stdin and stdout.
 *
 * <p>Arguments: the registry URL (credentials in it, as Eureka clients take them), the app name,
 * the port this instance claims. Renews and fetches every second so the test is quick. Prints
 * {@code started} once the client runs, {@code found <url> full=<n> delta=<m>} for each new
 * instance under the VIP {@code middletier} (with how many full and delta fetches the client
 * had made by then), and {@code stopped} after {@code stop} on stdin, when it has cancelled its
 * registration. Logs go to stderr.
 */
public final class NetflixClient {
    private static final String MIDDLETIER_VIP = "middletier";

    private NetflixClient() {}

    public static void main(String[] args) throws Exception {
        String serviceUrl = args[0];
        String app = args[1];
        int port = Integer.parseInt(args[2]);

        MyDataCenterInstanceConfig instanceConfig = new MyDataCenterInstanceConfig() {
            @Override
            public String getInstanceId() {
                return "127.0.0.1:" + app + ":" + port;
            }

            @Override
            public String getAppname() {
                return app;
            }

            @Override
            public String getVirtualHostName() {
                return app;
            }

            @Override
            public int getNonSecurePort() {
                return port;
            }

            @Override
            public int getLeaseRenewalIntervalInSeconds() {
                return 1;
            }

            @Override
            public String getHostName(boolean refresh) {
                return "127.0.0.1";
            }

            @Override
            public String getIpAddress() {
                return "127.0.0.1";
            }
        };
        DefaultEurekaClientConfig clientConfig = new DefaultEurekaClientConfig() {
            @Override
            public List<String> getEurekaServerServiceUrls(String zone) {
                return List.of(serviceUrl);
            }

            @Override
            public int getRegistryFetchIntervalSeconds() {
                return 1;
            }

            @Override
            public int getInstanceInfoReplicationIntervalSeconds() {
                return 1;
            }

            @Override
            public int getInitialInstanceInfoReplicationIntervalSeconds() {
                return 1;
            }
        };

        // Which reads the client makes, so the test can tell a delta from a full fetch.
        AtomicInteger full = new AtomicInteger();
        AtomicInteger delta = new AtomicInteger();
        ClientRequestFilter countFetches = request -> {
            String path = request.getUri().getPath();
            if (request.getMethod().equals("GET")) {
                if (path.endsWith("/apps/delta")) {
                    delta.incrementAndGet();
                } else if (path.endsWith("/apps/") || path.endsWith("/apps")) {
                    full.incrementAndGet();
                }
            }
        };
        Jersey3DiscoveryClientOptionalArgs optionalArgs = new Jersey3DiscoveryClientOptionalArgs();
        optionalArgs.setAdditionalFilters(List.of(countFetches));

        InstanceInfo instance = new EurekaConfigBasedInstanceInfoProvider(instanceConfig).get();
        ApplicationInfoManager manager = new ApplicationInfoManager(instanceConfig, instance);
        DiscoveryClient client = new DiscoveryClient(
                manager, clientConfig, new Jersey3TransportClientFactories(), optionalArgs);
        // The status change registers at once, as a service does when it has started.
        manager.setInstanceStatus(InstanceStatus.UP);
        System.out.println("started");

        Thread stdin = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(
                    new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null && !line.trim().equals("stop")) {
                    // Only "stop" means anything.
                }
            } catch (Exception e) {
                e.printStackTrace();
            }
            client.shutdown();
            System.out.println("stopped");
            System.exit(0);
        });
        stdin.setDaemon(true);
        stdin.start();

        Set<String> seen = new HashSet<>();
        while (true) {
            for (InstanceInfo found : client.getInstancesByVipAddress(MIDDLETIER_VIP, false)) {
                String url = "http://" + found.getIPAddr() + ":" + found.getPort();
                if (seen.add(url)) {
                    System.out.println("found " + url + " full=" + full.get() + " delta=" + delta.get());
                }
            }
            Thread.sleep(100);
        }
    }
}
