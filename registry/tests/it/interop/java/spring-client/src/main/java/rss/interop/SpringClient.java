package rss.interop;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.client.RestTemplateBuilder;
import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.http.HttpMethod;
import org.springframework.http.client.ClientHttpRequestInterceptor;

/**
 * A Spring Boot service with Spring Cloud Netflix's Eureka client, auto-configured as any Spring
 * service would be, driven by the registry's interop tests over stdin and stdout.
 *
 * <p>Settings come as command-line arguments (see application.properties). Prints the same lines
 * as {@code NetflixClient}: {@code started}, {@code found <url> full=<n> delta=<m>} for each new
 * instance under the VIP {@code middletier}, and {@code stopped} after {@code stop} on stdin,
 * once the context has closed and the registration is cancelled.
 */
@SpringBootApplication
public class SpringClient {
    private static final String MIDDLETIER_VIP = "middletier";

    private static final AtomicInteger FULL = new AtomicInteger();
    private static final AtomicInteger DELTA = new AtomicInteger();

    /**
     * Spring Cloud builds the Eureka transport's RestTemplate from this builder; the interceptor
     * counts the reads, so the test can tell a delta from a full fetch.
     */
    @Bean
    RestTemplateBuilder restTemplateBuilder() {
        ClientHttpRequestInterceptor countFetches = (request, body, execution) -> {
            String path = request.getURI().getPath();
            if (request.getMethod() == HttpMethod.GET) {
                if (path.endsWith("/apps/delta")) {
                    DELTA.incrementAndGet();
                } else if (path.endsWith("/apps/") || path.endsWith("/apps")) {
                    FULL.incrementAndGet();
                }
            }
            return execution.execute(request, body);
        };
        return new RestTemplateBuilder().additionalInterceptors(countFetches);
    }

    public static void main(String[] args) throws Exception {
        ConfigurableApplicationContext context = SpringApplication.run(SpringClient.class, args);
        DiscoveryClient discovery = context.getBean(DiscoveryClient.class);
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
            context.close();
            System.out.println("stopped");
            System.exit(0);
        });
        stdin.setDaemon(true);
        stdin.start();

        Set<String> seen = new HashSet<>();
        while (context.isActive()) {
            try {
                for (ServiceInstance found : discovery.getInstances(MIDDLETIER_VIP)) {
                    String url = found.getUri().toString();
                    if (seen.add(url)) {
                        System.out.println("found " + url + " full=" + FULL.get() + " delta=" + DELTA.get());
                    }
                }
            } catch (RuntimeException e) {
                if (context.isActive()) {
                    throw e;
                }
            }
            Thread.sleep(100);
        }
        // The stdin thread is closing the context; it exits the process when that is done.
        stdin.join();
    }
}
