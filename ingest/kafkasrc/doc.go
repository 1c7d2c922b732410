// Package kafkasrc is pbi-pusher's Kafka source: a consumer-group member (segmentio/kafka-go)
// that reads JSON records, writes them durably to the spool, and only then commits offsets.
//
// # Delivery
//
// Each message value is one JSON object (one row) or a JSON array of objects (one row per
// element). Per owned partition, a batch of up to Options.BatchSize messages (or whatever
// arrived within Options.Linger) is decoded and handed to the RecordWriter together with the
// partition's spool checkpoint ("kafka/<group>/<topic>/<partition>" → next offset, decimal),
// which the writer stores in the same spool transaction as the rows. Only after Write returns
// is the offset committed to the group, bound to the current generation. On a rebalance the
// partition stops fetching, commits what is spooled and nothing more, and hands over. A new
// owner resumes at max(committed offset, spool checkpoint), so a crash between the spool write
// and the commit causes no duplicates on the same spool. A malformed value becomes a Record
// with Err set (dead-lettered as "topic/partition@offset"); it never stops the partition. When
// the spool is full, Write blocks and that partition simply stops fetching.
//
// # Scale-out
//
// Several instances in one group split the partitions. After every rebalance Options.OnAssign
// receives the generation and the owned partitions (indices among all partitions of the
// subscribed topics) and Options.OnShare owned ÷ total; Options.OnRevoke is called when a
// generation ends, before the next one is joined. The batcher turns them into this instance's
// part of the dataset's limits (batcher/share.go). Options.Lead bounds how far a partition reads
// ahead of delivery (max_lead), so a backlog stays in Kafka, where the next rebalance can move it.
//
// # Configurations
//
// Azure Event Hubs (Kafka endpoint, Standard tier or above): SASL PLAIN over TLS, the user is
// the literal "$ConnectionString" and the password the namespace (or hub) connection string;
// the topic is the event hub name; port 9093.
//
//	sources:
//	  - type: kafka
//	    table: sales/orders
//	    brokers: [mynamespace.servicebus.windows.net:9093]
//	    topic: orders            # the event hub
//	    group: pbi-pusher        # any name: Kafka consumer groups are created on first use
//	    start: earliest
//	    tls: {}                  # system roots
//	    sasl:
//	      mechanism: PLAIN
//	      username: $ConnectionString
//	      password: ${EVENTHUBS_CONNECTION_STRING}   # Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...
//
// Confluent Cloud: SASL PLAIN over TLS with an API key and secret.
//
//	sources:
//	  - type: kafka
//	    table: sales/orders
//	    brokers: [pkc-xxxxx.westeurope.azure.confluent.cloud:9092]
//	    topics: [orders, refunds]
//	    group: pbi-pusher
//	    tls: {}
//	    sasl:
//	      mechanism: PLAIN
//	      username: ${CONFLUENT_API_KEY}
//	      password: ${CONFLUENT_API_SECRET}
//
// Self-managed clusters may use SCRAM-SHA-256 or SCRAM-SHA-512, and tls with ca_file,
// cert_file/key_file (mutual TLS) or insecure_skip_verify (tests only). Without a tls key the
// connection is plaintext, even with sasl.
package kafkasrc
