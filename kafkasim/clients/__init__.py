"""Client-side pieces of kafkasim: what a Kafka producer/consumer decides before a request is sent.

``kafkasim.clients.partitioner`` reproduces the Java producer's built-in partitioning byte for
byte (murmur2 for keyed records, the KIP-794 sticky partitioner for keyless ones);
``kafkasim.clients.partition_cli`` is the body of the ``kafkasim partition`` subcommand.
"""
