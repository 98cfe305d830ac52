"""Parquet schemas of the two manifests, and the fixed writer settings that make them byte-identical."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from .layout import SCHEMA_VERSION

SAMPLE_SCHEMA = pa.schema([
    pa.field("key", pa.string(), nullable=False),
    pa.field("shard", pa.string(), nullable=False),
    pa.field("members", pa.list_(pa.string()), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("index", pa.int64(), nullable=False),
    pa.field("frames", pa.int32(), nullable=False),
    pa.field("height", pa.int32(), nullable=False),
    pa.field("width", pa.int32(), nullable=False),
    pa.field("fps", pa.float32(), nullable=False),
    pa.field("payload_kind", pa.string(), nullable=False),     # the payload member's extension: svf, svj, avi
    pa.field("payload_sha256", pa.string(), nullable=False),   # of the payload member's bytes
    pa.field("frames_hash", pa.string(), nullable=False),      # "xxh3_128:<hex>" of the raw frames (avi: as decoded)
    pa.field("payload_offset", pa.int64(), nullable=True),     # byte offset of the payload's data in the shard
    pa.field("payload_bytes", pa.int64(), nullable=True),      # (random access by range read)
    pa.field("psnr_db", pa.float32(), nullable=True),          # a lossy payload's PSNR against the render
    pa.field("label", pa.string(), nullable=True),             # labelled sets: the class name
    pa.field("label_index", pa.int32(), nullable=True),        # its index in the card's "classes"
    pa.field("source", pa.string(), nullable=True),
], metadata={"synthvid.schema_version": str(SCHEMA_VERSION)})

SHARD_SCHEMA = pa.schema([
    pa.field("name", pa.string(), nullable=False),
    pa.field("count", pa.int32(), nullable=False),
    pa.field("bytes", pa.int64(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),
], metadata={"synthvid.schema_version": str(SCHEMA_VERSION)})


def rows_to_parquet_bytes(rows: list[dict], schema: pa.Schema, sort_key: str) -> bytes:
    """Serialise rows with a fixed writer configuration: sorted rows, one row group, no statistics that
    depend on anything but the data, no timestamps. Same rows + same pyarrow version -> same bytes."""
    missing = [f.name for f in schema if not f.nullable for r in rows if r.get(f.name) is None]
    if missing:   # Arrow does not enforce "not null" itself: a manifest would carry nulls its schema forbids
        raise ValueError(f"manifest rows lack required column '{missing[0]}'")
    rows = sorted(rows, key=lambda r: r[sort_key])
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", compression_level=3, row_group_size=max(1, len(rows)),
                   use_dictionary=False, write_statistics=False, version="2.6", data_page_version="1.0",
                   store_schema=True)
    return buf.getvalue()


def parquet_bytes_to_table(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def upgrade_samples(table: pa.Table, schema_version: int) -> pa.Table:
    """A sample manifest of an older schema version with the columns of this one: version 1 held only
    lossless `svf` payloads (payload_kind "svf"); its other missing columns are null."""
    if schema_version == 1:
        n = table.num_rows
        for field in SAMPLE_SCHEMA:
            if field.name not in table.column_names:
                column = pa.array(["svf"] * n, pa.string()) if field.name == "payload_kind" else pa.nulls(n, field.type)
                table = table.append_column(field, column)
    return table
