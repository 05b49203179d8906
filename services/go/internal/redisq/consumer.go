// Package redisq is the reliable Redis list consumer both the redis queue transport
// (CONTRACT.md "redis") and the Celery worker are built on, and the redis queue itself.
package redisq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backoff of reconnection after a lost connection: 50 ms doubling to 2 s.
const (
	BackoffFirst = 50 * time.Millisecond
	BackoffMax   = 2 * time.Second
	blockTimeout = time.Second // BLMOVE's timeout: a stop is noticed within it
)

// Handler adds the commands that answer one message to its transaction; it must not panic.
type Handler func(ctx context.Context, msg string, tx redis.Pipeliner)

// Consumer serves <queue> at least once: BLMOVE <queue> <queue>:processing RIGHT LEFT, then one
// MULTI with the handler's commands and LREM <queue>:processing 1 <msg>. At start, and after
// every broker outage, everything in <queue>:processing goes back to the right end of the queue
// (LMOVE processing queue RIGHT RIGHT until empty) to be served next.
type Consumer struct {
	Queue, Processing, Dead string
	opts                    *redis.Options
	handler                 Handler
	workers                 int

	mu         sync.Mutex
	outageFrom time.Time // zero when redis answers
	generation int       // bumped when an outage ends
}

// NewConsumer parses url and checks that redis answers.
func NewConsumer(url, queue string, workers int, handler Handler) (*Consumer, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bad --redis-url %q: %w; use e.g. redis://127.0.0.1:6379/0", url, err)
	}
	opts.PoolSize = 1
	opts.MaxRetries = -1 // no silent retry: a lost connection is an outage, handled below
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 10 * time.Second
	opts.WriteTimeout = 10 * time.Second
	opts.ContextTimeoutEnabled = false
	opts.Protocol = 2
	opts.DisableIdentity = true
	return &Consumer{Queue: queue, Processing: queue + ":processing", Dead: queue + ":dead",
		opts: opts, handler: handler, workers: workers}, nil
}

// SetHandler sets what answers each message (before Run).
func (c *Consumer) SetHandler(h Handler) { c.handler = h }

// Recover moves <queue>:processing back to the queue and says how many messages moved.
func (c *Consumer) Recover(ctx context.Context, r *redis.Client) (int, error) {
	n := 0
	for {
		err := r.LMove(ctx, c.Processing, c.Queue, "RIGHT", "RIGHT").Err()
		if errors.Is(err, redis.Nil) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// Run recovers, then serves with its workers until ctx is done.
func (c *Consumer) Run(ctx context.Context) error {
	admin := redis.NewClient(c.opts)
	n, err := c.Recover(ctx, admin)
	_ = admin.Close()
	if err != nil {
		return fmt.Errorf("cannot reach redis at %s: %w; is redis-server running there?", c.opts.Addr, err)
	}
	slog.Info("redis queue ready", "queue", c.Queue, "recovered", n, "workers", c.workers)
	var wg sync.WaitGroup
	for i := 0; i < c.workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.loop(ctx, i)
		}(i)
	}
	wg.Wait()
	return nil
}

func (c *Consumer) loop(ctx context.Context, worker int) {
	r := redis.NewClient(c.opts)
	defer func() { _ = r.Close() }()
	// commands run on a context that a stop does not cancel: a message taken is answered
	cmd := context.WithoutCancel(ctx)
	delay := BackoffFirst
	reconnecting := false
	gen := c.gen()
	for ctx.Err() == nil {
		if reconnecting {
			n, err := c.Recover(cmd, r)
			if err != nil {
				c.sleep(ctx, &delay)
				continue
			}
			gen = c.restored(n)
			reconnecting = false
			delay = BackoffFirst
		}
		msg, err := r.BLMove(cmd, c.Queue, c.Processing, "RIGHT", "LEFT", blockTimeout).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err == nil {
			_, err = r.TxPipelined(cmd, func(tx redis.Pipeliner) error {
				c.handler(cmd, msg, tx)
				tx.LRem(cmd, c.Processing, 1, msg)
				return nil
			})
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.lost(worker, err, gen)
			reconnecting = true
			c.sleep(ctx, &delay)
		}
	}
}

func (c *Consumer) sleep(ctx context.Context, delay *time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(*delay):
	}
	*delay = min(2**delay, BackoffMax)
}

func (c *Consumer) gen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

// lost logs an outage once: only the first loss of a connection of the current generation.
func (c *Consumer) lost(worker int, err error, gen int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outageFrom.IsZero() && gen == c.generation {
		c.outageFrom = time.Now()
		slog.Warn("lost redis; reconnecting", "addr", c.opts.Addr, "worker", worker, "err", err,
			"backoff", fmt.Sprintf("%v doubling to %v", BackoffFirst, BackoffMax))
	}
}

func (c *Consumer) restored(moved int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.outageFrom.IsZero() {
		slog.Warn("redis answers again", "addr", c.opts.Addr, "after", time.Since(c.outageFrom).Round(time.Millisecond),
			"recovered", moved)
		c.outageFrom = time.Time{}
		c.generation++
	}
	return c.generation
}
