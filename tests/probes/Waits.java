/* Java's sleeps, timers and clocks (run as `java Waits.java`). Each wait aims 200 ms ahead and
 * prints `name=ok` when it took between 200 ms and 2 s of real (nanoTime) time; then the first
 * System.currentTimeMillis() value, and whether currentTimeMillis moved forward across the
 * waits. JDK 17 parks threads on condition variables created with CLOCK_MONOTONIC, so a shim
 * that translated their deadlines as wall-clock times would return at once or hang here. */
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

public class Waits {
    interface Wait {
        void run() throws Exception;
    }

    static void check(String name, Wait w) throws Exception {
        long t0 = System.nanoTime();
        w.run();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println(name + "=" + (ms >= 200 && ms <= 2000 ? "ok" : "took " + ms + " ms"));
    }

    public static void main(String[] args) throws Exception {
        long first = System.currentTimeMillis();
        check("thread_sleep", () -> Thread.sleep(200));
        check("object_wait", () -> {
            Object lock = new Object();
            synchronized (lock) {
                lock.wait(200);
            }
        });
        check("park_nanos", () -> LockSupport.parkNanos(200_000_000L));
        ScheduledExecutorService ses = Executors.newSingleThreadScheduledExecutor();
        check("scheduled_executor", () -> ses.schedule(() -> 42, 200, TimeUnit.MILLISECONDS).get());
        check("scheduled_fixed_rate", () -> {
            java.util.concurrent.CountDownLatch three = new java.util.concurrent.CountDownLatch(3);
            var f = ses.scheduleAtFixedRate(three::countDown, 0, 100, TimeUnit.MILLISECONDS);
            three.await(5, TimeUnit.SECONDS);
            f.cancel(false);
        });
        ses.shutdown();
        check("await_termination", () -> {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(5000);
                } catch (InterruptedException e) {
                    // expected
                }
            });
            t.setDaemon(true);
            t.start();
            t.join(200);
        });
        long last = System.currentTimeMillis();
        System.out.println("first_millis=" + first);
        System.out.println("millis_moved_forward=" + (last > first));
        System.out.flush();
        System.exit(0);
    }
}
