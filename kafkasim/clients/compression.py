"""Compression of record batches: how many bytes a batch takes once compressed (a model).

Kafka compresses a whole record batch, never a single record: the producer's
``compression.type`` codec compresses the batch's records section (the per-record framing,
keys, values and headers, back to back); the 61-byte v2 batch header stays uncompressed. The
broker stores and serves the batch as it came (topic ``compression.type=producer``) unless the
topic names another codec, when it recompresses the batch (``uncompressed``: stores it plain).
Consumers decompress. So ``max.message.bytes``, ``retention.bytes``, fetch sizes and disk usage
count *compressed* bytes, while the producer's ``max.request.size`` check counts a record's
*uncompressed* size (``KafkaProducer.doSend`` -> ``AbstractRecords.estimateSizeInBytesUpperBound``,
which ignores the codec for the v2 format).

kafkasim sends no real bytes, so the compressed size is a model, deterministic and simple::

    batch_size(u)   = BATCH_OVERHEAD + records(u)
    records(u)      = u                               if u <= WARMUP_BYTES
                    = W + (1 - c * E[codec]) * (u - W)  otherwise          (W = WARMUP_BYTES)

``u`` is the uncompressed records section, ``c`` the data's compressibility (the share of its
bytes that repeat what came before: field names, enums, timestamps' leading digits...;
``workload.value_compressibility``), ``E[codec]`` the share of those repeats the codec removes
(:data:`EFFICIENCY`) and ``W`` the history a codec must see before repeats pay off. A codec only
finds repeats inside the batch it compresses, so a batch of one small record does not shrink at
all and the ratio improves with every record a bigger batch (``linger.ms``, ``batch.size``)
holds: ``records(u) / u`` never increases with ``u`` and falls towards ``1 - c * E``.

The figures are illustrative, not measured: with the default ``c = 0.8`` the limit ratios are
about 4.0x (zstd), 3.6x (gzip), 2.6x (lz4), 2.5x (snappy), in line with KIP-110's production
figures (zstd 4.28x, snappy 2.5x) and the usual order (zstd, gzip better than lz4, snappy).

The producer does not know the compressed size while it fills a batch: it estimates it as
``header + uncompressed * ratio * 1.05`` from a per-topic running ratio that starts at 1.0,
improves by at most 0.005 per batch and worsens by at least 0.05 (:class:`RatioEstimator`), and
closes the batch when that estimate reaches ``batch.size``. So a compressing producer's batches
hold more records than ``batch.size`` uncompressed bytes only after many batches have taught it
the ratio.

Kafka: ``MemoryRecordsBuilder`` (``estimatedBytesWritten``, ``hasRoomFor``, ``isFull``,
``COMPRESSION_RATE_ESTIMATION_FACTOR``), ``CompressionRatioEstimator`` and the split of a refused
batch (KIP-126, ``RecordAccumulator.splitAndReenqueue``), ``ProducerBatch.close``,
``UnifiedLog.analyzeAndValidateRecords`` (size check on the batch as received) and the re-check
after ``LogValidator`` recompresses, ``BrokerCompressionType`` (topic ``compression.type``).
Simplified: the estimator is per producer (Kafka: per JVM); compression levels (KIP-390) are not
modelled; control batches and the coordinator's internal writes are never compressed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kafkasim.cluster.log import BATCH_OVERHEAD  # the v2 batch header: never compressed

#: Producer codecs (``compression.type``); ``none`` sends batches uncompressed.
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

#: Share of the repeated bytes each codec removes (illustrative; zstd/gzip beat lz4/snappy).
EFFICIENCY: dict[str, float] = {"none": 0.0, "snappy": 0.75, "lz4": 0.77, "gzip": 0.90, "zstd": 0.94}

#: Bytes of a batch's records a codec sees before repeats start to pay off.
WARMUP_BYTES = 256

#: Compressibility of a workload's values when the scenario does not say (JSON-like data).
DEFAULT_COMPRESSIBILITY = 0.8

#: ``MemoryRecordsBuilder.COMPRESSION_RATE_ESTIMATION_FACTOR``: the estimate's safety margin.
ESTIMATION_FACTOR = 1.05
#: ``CompressionRatioEstimator``: the estimate improves by at most this per batch ...
IMPROVING_STEP = 0.005
#: ... and worsens by at least this (it jumps to the observed ratio if that is worse still).
DETERIORATE_STEP = 0.05


def records_size(uncompressed: int, codec: str, compressibility: float) -> int:
    """Compressed size of a records section of ``uncompressed`` bytes (the model above)."""
    if codec == "none" or uncompressed <= WARMUP_BYTES:
        return uncompressed
    kept = 1.0 - compressibility * EFFICIENCY[codec]
    return WARMUP_BYTES + math.ceil(kept * (uncompressed - WARMUP_BYTES))


def batch_size(uncompressed: int, codec: str, compressibility: float) -> int:
    """Size of a whole batch (``uncompressed`` includes the header) once ``codec`` compressed it."""
    return BATCH_OVERHEAD + records_size(max(0, uncompressed - BATCH_OVERHEAD), codec, compressibility)


def target_codec(topic_codec: str, producer_codec: str) -> str:
    """The codec a topic stores a batch with: ``producer`` keeps the batch's own, ``uncompressed``
    is none, any other names the codec (Kafka: ``BrokerCompressionType.targetCompression``)."""
    if topic_codec == "producer":
        return producer_codec
    return "none" if topic_codec == "uncompressed" else topic_codec


@dataclass(slots=True, eq=False)
class BatchCodec:
    """How a producer batch is compressed: attached to a ``ProducerBatch`` by its producer.

    ``estimate`` is the ratio the batch was opened with (fixed for its life, as in Kafka);
    ``uncompressed`` is 0 while the batch is open and its size before compression once built
    (the batch's ``size`` is then the compressed size that goes on the wire).
    """

    codec: str
    compressibility: float
    estimate: float = 1.0
    uncompressed: int = 0

    def estimated_size(self, size: int) -> int:
        """``MemoryRecordsBuilder.estimatedBytesWritten`` for a batch of ``size`` uncompressed bytes."""
        if self.codec == "none":
            return size
        return BATCH_OVERHEAD + int((size - BATCH_OVERHEAD) * self.estimate * ESTIMATION_FACTOR)


def stored_size(size: int, codec: BatchCodec | None, topic_codec: str) -> int:
    """Bytes a batch that arrived with ``size`` bytes takes in a topic with ``topic_codec``.

    Unchanged when the topic keeps the batch's codec; otherwise the broker recompresses it.
    """
    source = codec.codec if codec is not None else "none"
    target = target_codec(topic_codec, source)
    if target == source:
        return size
    if codec is None:
        return batch_size(size, target, DEFAULT_COMPRESSIBILITY)
    return batch_size(codec.uncompressed or size, target, codec.compressibility)


class RatioEstimator:
    """A producer's running estimate of each topic's compression ratio (compressed / uncompressed).

    Kafka: ``CompressionRatioEstimator``: starts at 1.0; after each batch is built, a better
    observed ratio lowers it by at most 0.005, a worse one raises it by at least 0.05.
    """

    __slots__ = ("_ratios",)

    def __init__(self) -> None:
        self._ratios: dict[str, float] = {}

    def estimate(self, topic: str) -> float:
        return self._ratios.get(topic, 1.0)

    def update(self, topic: str, observed: float) -> float:
        current = self._ratios.get(topic, 1.0)
        if observed > current:
            current = max(current + DETERIORATE_STEP, observed)
        elif observed < current:
            current = max(current - IMPROVING_STEP, observed)
        self._ratios[topic] = current
        return current

    def reset(self, topic: str, ratio: float) -> None:
        """After a split (MESSAGE_TOO_LARGE): ``RecordAccumulator.splitAndReenqueue`` sets
        max(1.0, the refused batch's ratio)."""
        self._ratios[topic] = max(1.0, ratio)
