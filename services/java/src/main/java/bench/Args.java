package bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code --key value} and {@code --key=value} options, for the service's and the caller's command lines. */
public final class Args {
    private Args() {
    }

    /** The options of {@code args} from index {@code from}; anything else, or a key not in {@code known}, is refused. */
    public static Map<String, String> options(String[] args, int from, List<String> known) {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = from; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            String key = a.substring(2);
            String value;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("option --" + key + " needs a value");
                }
                value = args[++i];
            }
            if (!known.contains(key)) {
                throw new IllegalArgumentException("unknown option --" + key + "; known: --" + String.join(", --", known));
            }
            o.put(key, value);
        }
        return o;
    }
}
