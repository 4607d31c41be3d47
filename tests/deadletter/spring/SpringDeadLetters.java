// Dead letters written by the real Spring Kafka: listener containers with ErrorHandlingDeserializer
// on key and value, a DefaultErrorHandler without retries and Spring's DeadLetterPublishingRecoverer.
// The oracle for deadletter/decoders.py (tests/deadletter/test_spring_dead_letters.py runs it).
//
//   java -cp 'var/spring-kafka/libs/*' SpringDeadLetters.java BOOTSTRAP SOURCE HOP DLT GROUP HOP_GROUP
//
// Four records are produced to SOURCE and consumed by a container in GROUP:
//   acc_1001     value is not a JSON event  -> value DeserializationException -> DLT
//   acc_x2002    key is not an account id   -> key DeserializationException   -> DLT
//   acc_3003     listener throws an exception with a nested cause              -> DLT
//   acc_4004     listener throws                                               -> HOP
// A second container in HOP_GROUP reads HOP, whose listener throws again        -> DLT
// so acc_4004 reaches DLT dead-lettered twice (two sets of kafka_dlt-original-* headers).
// Then DLT is read back with a plain KafkaConsumer and printed, hex-encoded, one line each:
//   RECORD <partition> <offset> <key hex or ->
//   HEADER <name> <value hex or ->
// and the line DONE. Exit status 1 with a message on stderr if anything is missing.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.DeadLetterPublishingRecoverer;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.listener.KafkaMessageListenerContainer;
import org.springframework.kafka.listener.MessageListener;
import org.springframework.kafka.support.ProducerListener;
import org.springframework.kafka.support.serializer.DelegatingByTypeSerializer;
import org.springframework.kafka.support.serializer.ErrorHandlingDeserializer;
import org.springframework.util.backoff.FixedBackOff;

public class SpringDeadLetters {

    static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** The application's key deserializer: keys are account ids, acc_<number>. */
    static String accountId(String topic, byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        try {
            Long.parseLong(text.substring(text.indexOf('_') + 1));
        } catch (NumberFormatException e) {
            throw new SerializationException("not an account id: " + text, e);
        }
        return text;
    }

    /** The application's value deserializer: values are JSON events. */
    static String event(String topic, byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        if (!text.startsWith("{")) {
            throw new SerializationException("not a JSON event: " + text);
        }
        return text;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], source = args[1], hop = args[2], dlt = args[3];
        String group = args[4], hopGroup = args[5];

        produceSource(bootstrap, source);

        // Each DLT write is acknowledged here: 4 records to DLT and 1 to HOP.
        CountDownLatch written = new CountDownLatch(5);
        KafkaTemplate<Object, Object> template = new KafkaTemplate<>(new DefaultKafkaProducerFactory<>(
                Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ProducerConfig.ACKS_CONFIG, "all"),
                anything(), anything()));
        template.setProducerListener(new ProducerListener<>() {
            @Override
            public void onSuccess(ProducerRecord<Object, Object> record, RecordMetadata metadata) {
                written.countDown();
            }
        });
        DeadLetterPublishingRecoverer recoverer = new DeadLetterPublishingRecoverer(template, (record, exception) ->
                new TopicPartition(record.topic().equals(source) && "acc_4004".equals(record.key()) ? hop : dlt, -1));

        KafkaMessageListenerContainer<String, String> first = container(bootstrap, source, group, recoverer,
                record -> {
                    if (record.key().equals("acc_3003")) {
                        throw new IllegalStateException("ledger rejected account acc_3003",
                                new ArithmeticException("balance 12 below 100"));
                    }
                    if (record.key().equals("acc_4004")) {
                        throw new IllegalArgumentException("currency XTS not accepted");
                    }
                });
        KafkaMessageListenerContainer<String, String> second = container(bootstrap, hop, hopGroup, recoverer,
                record -> {
                    throw new UnsupportedOperationException("retry of " + record.key() + " failed again");
                });
        first.start();
        second.start();
        boolean done = written.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        first.stop();
        second.stop();
        template.destroy();
        if (!done) {
            System.err.println("Spring wrote " + (5 - written.getCount()) + " of 5 dead letters in " + TIMEOUT);
            System.exit(1);
        }
        printDeadLetters(bootstrap, dlt, 4);
    }

    static void produceSource(String bootstrap, String source) throws Exception {
        Map<String, Object> config = Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(config, new ByteArraySerializer(), new ByteArraySerializer())) {
            String[][] records = {
                {"acc_1001", "not json"},
                {"acc_x2002", "{\"eventType\":\"TransactionCompleted\",\"aggregateId\":\"acc_x2002\"}"},
                {"acc_3003", "{\"eventType\":\"TransactionCompleted\",\"aggregateId\":\"acc_3003\"}"},
                {"acc_4004", "{\"eventType\":\"TransactionCompleted\",\"aggregateId\":\"acc_4004\"}"},
            };
            for (String[] record : records) {
                ProducerRecord<byte[], byte[]> out = new ProducerRecord<>(source, 0,
                        record[0].getBytes(StandardCharsets.UTF_8), record[1].getBytes(StandardCharsets.UTF_8));
                out.headers().add("traceparent", ("00-trace-" + record[0]).getBytes(StandardCharsets.UTF_8));
                producer.send(out).get();
            }
        }
    }

    static KafkaMessageListenerContainer<String, String> container(String bootstrap, String topic, String group,
            DeadLetterPublishingRecoverer recoverer, MessageListener<String, String> listener) {
        Map<String, Object> config = Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        Deserializer<String> keys = SpringDeadLetters::accountId;
        Deserializer<String> values = SpringDeadLetters::event;
        DefaultKafkaConsumerFactory<String, String> factory = new DefaultKafkaConsumerFactory<>(config,
                new ErrorHandlingDeserializer<>(keys), new ErrorHandlingDeserializer<>(values));
        ContainerProperties properties = new ContainerProperties(topic);
        properties.setGroupId(group);
        properties.setMessageListener(listener);
        properties.setPollTimeout(200);
        KafkaMessageListenerContainer<String, String> container = new KafkaMessageListenerContainer<>(factory,
                properties);
        container.setCommonErrorHandler(new DefaultErrorHandler(recoverer, new FixedBackOff(0L, 0L)));
        container.setBeanName(group);
        return container;
    }

    /** Dead letters carry raw bytes where deserialization failed and strings elsewhere. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static Serializer<Object> anything() {
        Map<Class<?>, Serializer<?>> delegates = Map.of(
                byte[].class, new ByteArraySerializer(), String.class, new StringSerializer());
        return (Serializer) new DelegatingByTypeSerializer(delegates);
    }

    static void printDeadLetters(String bootstrap, String dlt, int expected) {
        Map<String, Object> config = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition partition = new TopicPartition(dlt, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (records.size() < expected && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
        }
        if (records.size() != expected) {
            System.err.println("read " + records.size() + " of " + expected + " dead letters back from " + dlt);
            System.exit(1);
        }
        HexFormat hex = HexFormat.of();
        StringBuilder out = new StringBuilder();
        for (ConsumerRecord<byte[], byte[]> record : records) {
            out.append("RECORD ").append(record.partition()).append(' ').append(record.offset()).append(' ')
                    .append(record.key() == null ? "-" : hex.formatHex(record.key())).append('\n');
            for (Header header : record.headers()) {
                out.append("HEADER ").append(header.key()).append(' ')
                        .append(header.value() == null ? "-" : hex.formatHex(header.value())).append('\n');
            }
        }
        out.append("DONE\n");
        System.out.print(out);
        System.out.flush();
    }
}
