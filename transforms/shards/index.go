package shards

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"realdpo/transforms/fsx"

	"realdpo/schemas"
)

// IndexFile is the name of the index at the root of a pair set.
const IndexFile = "index.json"

// ReadIndex reads and checks index.json.
func ReadIndex(ctx context.Context, root string) (schemas.ShardIndex, error) {
	var ix schemas.ShardIndex
	r, err := fsx.Open(ctx, fsx.JoinPath(root, IndexFile))
	if err != nil {
		return ix, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return ix, fmt.Errorf("read %s: %w", IndexFile, err)
	}
	if err := json.Unmarshal(data, &ix); err != nil {
		return ix, fmt.Errorf("parse %s: %w", IndexFile, err)
	}
	if ix.Format != schemas.ShardFormat {
		return ix, fmt.Errorf("%s: format %q, want %q", IndexFile, ix.Format, schemas.ShardFormat)
	}
	n := 0
	for i, e := range ix.Shards {
		if e.Shard != ShardName(i) {
			return ix, fmt.Errorf("%s: shard %d is named %q, want %q", IndexFile, i, e.Shard, ShardName(i))
		}
		n += e.Count
	}
	if n != ix.Pairs {
		return ix, fmt.Errorf("%s: shards hold %d pairs, index says %d", IndexFile, n, ix.Pairs)
	}
	return ix, nil
}

// WalkShard streams the pairs of one shard of an index, verifying it.
func WalkShard(ctx context.Context, root string, e schemas.ShardEntry, o ReaderOptions, fn func(*PreferencePair) error) error {
	if _, err := ParseShardName(e.Shard); err != nil {
		return err
	}
	f, err := fsx.Open(ctx, fsx.JoinPath(root, e.Shard))
	if err != nil {
		return err
	}
	defer f.Close()
	o.Name, o.Expect = e.Shard, &e
	rd := NewReader(bufio.NewReaderSize(f, 1<<20), o)
	for {
		p, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

// Walk streams every pair of a pair set in index order, verifying each
// shard's checksum, size and count against the index. The training loop's
// reader: shard i of n goes to loader worker i mod workers.
func Walk(ctx context.Context, root string, o ReaderOptions, fn func(shard string, p *PreferencePair) error) error {
	ix, err := ReadIndex(ctx, root)
	if err != nil {
		return err
	}
	for _, e := range ix.Shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := WalkShard(ctx, root, e, o, func(p *PreferencePair) error { return fn(e.Shard, p) }); err != nil {
			return err
		}
	}
	return nil
}
