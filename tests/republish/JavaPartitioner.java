// Prints the partition Kafka's Java client picks for each key (hex-encoded bytes) given
// as arguments after the partition count: the oracle for republish/partitioner.py.
import org.apache.kafka.common.utils.Utils;

public class JavaPartitioner {
    public static void main(String[] args) {
        int partitions = Integer.parseInt(args[0]);
        for (int i = 1; i < args.length; i++) {
            byte[] key = java.util.HexFormat.of().parseHex(args[i]);
            // BuiltInPartitioner.partitionForKey: toPositive(murmur2(key)) % numPartitions
            System.out.println(Utils.toPositive(Utils.murmur2(key)) % partitions);
        }
    }
}
