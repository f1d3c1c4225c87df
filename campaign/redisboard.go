package campaign

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBoard is the Board on Redis sorted sets, shared by every server.
//
// Each board is a sorted set whose members all have score 0 and are
// ordered by their bytes (ZRANGE/ZRANK lexicographic order): a member is
// 48 hex digits, the inverted mg score, the reach time and the account id,
// each as a fixed-width big-endian uint64, so the order is exactly
// Entry.less with full int64 precision (a float score could not hold mg and
// microsecond times exactly). A hash beside it maps account → "version:member"
// so an update finds the member to replace and skips stale versions. Both
// keys share a {hash tag}, and every update runs as one Lua script, so the
// pair stays consistent on Redis Cluster too.
type RedisBoard struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisBoard returns a board on rdb whose keys start with prefix (e.g.
// "oc:"; tests use a unique one).
func NewRedisBoard(rdb redis.UniversalClient, prefix string) *RedisBoard {
	return &RedisBoard{rdb: rdb, prefix: prefix}
}

var _ Board = (*RedisBoard)(nil)

func (b *RedisBoard) keys(k BoardKey) (zset, hash, ready string) {
	tag := "{" + k.Campaign + "/" + k.Region + "}"
	return b.prefix + "lb:" + tag, b.prefix + "lbv:" + tag, b.prefix + "lbr:" + tag
}

// encodeMember encodes e so that byte order is rank order.
func encodeMember(e Entry) string {
	var buf [24]byte
	binary.BigEndian.PutUint64(buf[0:], ^(uint64(e.Score) ^ 1<<63))
	binary.BigEndian.PutUint64(buf[8:], uint64(e.ReachedAt.UnixMicro())^1<<63)
	binary.BigEndian.PutUint64(buf[16:], uint64(e.Account)^1<<63)
	return hex.EncodeToString(buf[:])
}

func decodeMember(s string) (Entry, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 24 {
		return Entry{}, fmt.Errorf("redis board: bad member %q", s)
	}
	return Entry{
		Score:     int64(^binary.BigEndian.Uint64(b[0:]) ^ 1<<63),
		ReachedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[8:]) ^ 1<<63)).UTC(),
		Account:   int64(binary.BigEndian.Uint64(b[16:]) ^ 1<<63),
	}, nil
}

// applyScript applies (account, version, member) triples; member "" removes.
var applyScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 3 do
  local acc, ver, mem = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2]
  local cur = redis.call('HGET', KEYS[2], acc)
  local skip = false
  if cur then
    local sep = string.find(cur, ':', 1, true)
    if tonumber(string.sub(cur, 1, sep - 1)) >= ver then
      skip = true
    else
      local old = string.sub(cur, sep + 1)
      if old ~= '' then redis.call('ZREM', KEYS[1], old) end
    end
  end
  if not skip then
    if mem ~= '' then redis.call('ZADD', KEYS[1], 0, mem) end
    redis.call('HSET', KEYS[2], acc, ARGV[i+1] .. ':' .. mem)
    n = n + 1
  end
end
return n`)

// rankScript returns {rank (0-based) or -1, member}.
var rankScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {-1, ''} end
local mem = string.sub(cur, string.find(cur, ':', 1, true) + 1)
if mem == '' then return {-1, ''} end
local r = redis.call('ZRANK', KEYS[1], mem)
if not r then return {-1, ''} end
return {r, mem}`)

// viewScript returns {len, rank (0-based) or -1, top members}: the top
// ARGV[1] members, the length and account ARGV[2]'s rank ("" for none), so
// a leaderboard request costs one round trip instead of three.
var viewScript = redis.NewScript(`
local r = -1
if ARGV[2] ~= '' then
  local cur = redis.call('HGET', KEYS[2], ARGV[2])
  if cur then
    local mem = string.sub(cur, string.find(cur, ':', 1, true) + 1)
    if mem ~= '' then r = redis.call('ZRANK', KEYS[1], mem) or -1 end
  end
end
local top = {}
local n = tonumber(ARGV[1])
if n > 0 then top = redis.call('ZRANGE', KEYS[1], 0, n - 1) end
return {redis.call('ZCARD', KEYS[1]), r, top}`)

// Apply implements Board. Updates are grouped per key, one script call per
// key and batch.
func (b *RedisBoard) Apply(ctx context.Context, ups []Update) error {
	byKey := map[BoardKey][]any{}
	var order []BoardKey
	for _, u := range ups {
		mem := ""
		if !u.Remove {
			e := u.Entry
			e.Account = u.Account
			mem = encodeMember(e)
		}
		if _, ok := byKey[u.Key]; !ok {
			order = append(order, u.Key)
		}
		byKey[u.Key] = append(byKey[u.Key], strconv.FormatInt(u.Account, 10), strconv.FormatInt(u.Version, 10), mem)
	}
	for _, k := range order {
		z, h, _ := b.keys(k)
		if err := applyScript.Run(ctx, b.rdb, []string{z, h}, byKey[k]...).Err(); err != nil {
			return fmt.Errorf("redis board apply: %w", err)
		}
	}
	return nil
}

// ApplyPipelined applies many updates of one key in chunks over a
// pipeline: used by rebuilds and benchmarks to load large boards.
func (b *RedisBoard) ApplyPipelined(ctx context.Context, k BoardKey, ups []Update, chunk int) error {
	z, h, _ := b.keys(k)
	if err := applyScript.Load(ctx, b.rdb).Err(); err != nil {
		return fmt.Errorf("redis board load script: %w", err)
	}
	pipe := b.rdb.Pipeline()
	for i := 0; i < len(ups); i += chunk {
		args := make([]any, 0, 3*chunk)
		for _, u := range ups[i:min(i+chunk, len(ups))] {
			mem := ""
			if !u.Remove {
				e := u.Entry
				e.Account = u.Account
				mem = encodeMember(e)
			}
			args = append(args, strconv.FormatInt(u.Account, 10), strconv.FormatInt(u.Version, 10), mem)
		}
		applyScript.EvalSha(ctx, pipe, []string{z, h}, args...)
		if pipe.Len() >= 64 {
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("redis board apply: %w", err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis board apply: %w", err)
	}
	return nil
}

// Top implements Board.
func (b *RedisBoard) Top(ctx context.Context, k BoardKey, n int) ([]Entry, error) {
	if n <= 0 {
		return []Entry{}, nil
	}
	z, _, _ := b.keys(k)
	mems, err := b.rdb.ZRange(ctx, z, 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis board top: %w", err)
	}
	out := make([]Entry, 0, len(mems))
	for _, m := range mems {
		e, err := decodeMember(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Rank implements Board.
func (b *RedisBoard) Rank(ctx context.Context, k BoardKey, account int64) (int64, Entry, error) {
	z, h, _ := b.keys(k)
	res, err := rankScript.Run(ctx, b.rdb, []string{z, h}, strconv.FormatInt(account, 10)).Slice()
	if err != nil {
		return 0, Entry{}, fmt.Errorf("redis board rank: %w", err)
	}
	r, _ := res[0].(int64)
	if r < 0 {
		return 0, Entry{}, nil
	}
	mem, _ := res[1].(string)
	e, err := decodeMember(mem)
	if err != nil {
		return 0, Entry{}, err
	}
	return r + 1, e, nil
}

// View implements Board with one script call.
func (b *RedisBoard) View(ctx context.Context, k BoardKey, n int, account int64) (View, error) {
	z, h, _ := b.keys(k)
	acc := ""
	if account != 0 {
		acc = strconv.FormatInt(account, 10)
	}
	res, err := viewScript.Run(ctx, b.rdb, []string{z, h}, max(n, 0), acc).Slice()
	if err != nil {
		return View{}, fmt.Errorf("redis board view: %w", err)
	}
	if len(res) != 3 {
		return View{}, fmt.Errorf("redis board view: %d values in the reply, want 3", len(res))
	}
	var v View
	v.Len, _ = res[0].(int64)
	if r, _ := res[1].(int64); r >= 0 {
		v.Rank = r + 1
	}
	mems, _ := res[2].([]any)
	v.Top = make([]Entry, 0, len(mems))
	for _, m := range mems {
		s, _ := m.(string)
		e, err := decodeMember(s)
		if err != nil {
			return View{}, err
		}
		v.Top = append(v.Top, e)
	}
	return v, nil
}

// Len implements Board.
func (b *RedisBoard) Len(ctx context.Context, k BoardKey) (int64, error) {
	z, _, _ := b.keys(k)
	n, err := b.rdb.ZCard(ctx, z).Result()
	if err != nil {
		return 0, fmt.Errorf("redis board len: %w", err)
	}
	return n, nil
}

// Drop implements Board.
func (b *RedisBoard) Drop(ctx context.Context, k BoardKey) error {
	z, h, r := b.keys(k)
	if err := b.rdb.Del(ctx, z, h, r).Err(); err != nil {
		return fmt.Errorf("redis board drop: %w", err)
	}
	return nil
}

// Ready implements Board: the ready marker is lost with the data when
// Redis restarts without persistence or is flushed.
func (b *RedisBoard) Ready(ctx context.Context, k BoardKey) (bool, error) {
	_, _, r := b.keys(k)
	n, err := b.rdb.Exists(ctx, r).Result()
	if err != nil {
		return false, fmt.Errorf("redis board ready: %w", err)
	}
	return n == 1, nil
}

// MarkReady implements Board.
func (b *RedisBoard) MarkReady(ctx context.Context, k BoardKey) error {
	_, _, r := b.keys(k)
	if err := b.rdb.Set(ctx, r, "1", 0).Err(); err != nil {
		return fmt.Errorf("redis board ready: %w", err)
	}
	return nil
}

// BulkLoad writes entries onto an empty board with plain pipelined
// ZADD/HSET commands, several times faster than Apply's script. It skips
// the version check, so it is only for a board nobody else writes to
// meanwhile (benchmarks, an offline restore); rebuilds use Apply.
func (b *RedisBoard) BulkLoad(ctx context.Context, k BoardKey, ups []Update, chunk int) error {
	z, h, _ := b.keys(k)
	pipe := b.rdb.Pipeline()
	for i := 0; i < len(ups); i += chunk {
		part := ups[i:min(i+chunk, len(ups))]
		zs := make([]redis.Z, 0, len(part))
		fields := make([]any, 0, 2*len(part))
		for _, u := range part {
			e := u.Entry
			e.Account = u.Account
			mem := encodeMember(e)
			zs = append(zs, redis.Z{Member: mem})
			fields = append(fields, strconv.FormatInt(u.Account, 10), strconv.FormatInt(u.Version, 10)+":"+mem)
		}
		pipe.ZAdd(ctx, z, zs...)
		pipe.HSet(ctx, h, fields...)
		if pipe.Len() >= 32 {
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("redis board load: %w", err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis board load: %w", err)
	}
	return nil
}
