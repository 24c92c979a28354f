package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// DeliveryState is where a delivery stands.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending" // not sent yet, or failed and waiting for its next attempt
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryGivenUp   DeliveryState = "given_up" // a permanent error, or out of attempts
)

// Delivery is one notification to one notifier, kept in the store's outbox from the
// moment its events are stored, so that a crash or a notifier down for hours loses none.
type Delivery struct {
	ID          string        `json:"id"` // notifier + "|" + key
	Notifier    string        `json:"notifier"`
	Key         string        `json:"key"` // the event key, or "digest:<route>:<cycle start>"
	EventKeys   []string      `json:"event_keys"`
	State       DeliveryState `json:"state"`
	Attempts    int           `json:"attempts"`
	NextAttempt time.Time     `json:"next_attempt"`
	LastError   string        `json:"last_error,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	DeliveredAt time.Time     `json:"delivered_at,omitzero"`
}

// DeliveryID is the outbox key of a notification to a notifier.
func DeliveryID(notifier, key string) string { return notifier + "|" + key }

// Router turns events into deliveries by the configured routes.
type Router struct {
	Routes []Route
	// Default receives every event when no route is configured.
	Default []string
}

// Deliveries routes one cycle's events of one source; digestKey names the cycle's digests,
// and must differ from every earlier cycle's: a digest stored already takes in more
// events only until its first attempt.
// Every matching route delivers, but a notifier gets an event once even when two routes
// send it there.
func (r Router) Deliveries(events []Event, facts map[string]RouteFacts, digestKey string, now time.Time) []Delivery {
	var out []Delivery
	index := map[string]int{}
	add := func(notifier, key, eventKey string) {
		id := DeliveryID(notifier, key)
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, Delivery{ID: id, Notifier: notifier, Key: key, State: DeliveryPending,
				NextAttempt: now, CreatedAt: now, UpdatedAt: now})
		}
		for _, k := range out[i].EventKeys {
			if k == eventKey {
				return
			}
		}
		out[i].EventKeys = append(out[i].EventKeys, eventKey)
	}
	for _, e := range events {
		if len(r.Routes) == 0 {
			for _, n := range r.Default {
				add(n, e.Key, e.Key)
			}
			continue
		}
		for i, route := range r.Routes {
			if !route.Match(e, facts[e.Key]) {
				continue
			}
			for _, n := range route.Notify {
				if route.Digest {
					add(n, fmt.Sprintf("digest:%d:%s", i, digestKey), e.Key)
				} else {
					add(n, e.Key, e.Key)
				}
			}
		}
	}
	return out
}

// Dispatcher sends the outbox's due deliveries and records each outcome at once, so that
// a crash repeats at most the one notification that was in flight.
type Dispatcher struct {
	Store       Store
	Notifiers   map[string]Notifier
	MaxAttempts int
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	// Timeout bounds one notification, so that one stuck receiver cannot hold a cycle.
	Timeout time.Duration
	Now     func() time.Time
	Log     *slog.Logger
	// Observe, when set, is told each attempt's outcome ("delivered", "failed",
	// "given_up"), for metrics.
	Observe func(notifier, outcome string)
}

// DispatchReport counts what one dispatch did.
type DispatchReport struct {
	Delivered, Failed, GivenUp int
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// Dispatch sends every pending delivery whose time has come. The error is non-nil only
// when the store fails; a failed delivery is counted and waits for its next attempt.
func (d *Dispatcher) Dispatch(ctx context.Context) (DispatchReport, error) {
	var rep DispatchReport
	due, err := d.Store.DueDeliveries(d.now())
	if err != nil {
		return rep, err
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, dl := range due {
		if ctx.Err() != nil {
			return rep, nil // what is left waits in the outbox
		}
		err := d.send(ctx, dl)
		now := d.now()
		dl.Attempts++
		dl.UpdatedAt = now
		switch {
		case err == nil:
			dl.State, dl.DeliveredAt, dl.LastError = DeliveryDelivered, now, ""
			rep.Delivered++
		default:
			dl.LastError = err.Error()
			var ne *NotifyError
			permanent := errors.As(err, &ne) && ne.Permanent
			if permanent || dl.Attempts >= max(d.MaxAttempts, 1) {
				dl.State = DeliveryGivenUp
				rep.GivenUp++
				log.Error("delivery given up", "notifier", dl.Notifier, "key", dl.Key, "attempts", dl.Attempts, "err", err)
			} else {
				var wait time.Duration
				if ne != nil {
					wait = ne.RetryAfter
				}
				dl.NextAttempt = now.Add(max(d.backoff(dl.Attempts), wait)).Truncate(time.Second)
				rep.Failed++
				log.Warn("delivery failed", "notifier", dl.Notifier, "key", dl.Key, "attempts", dl.Attempts,
					"next_attempt", dl.NextAttempt.Format(time.RFC3339), "err", err)
			}
		}
		if err := d.Store.UpdateDelivery(ctx, dl); err != nil {
			return rep, fmt.Errorf("recording delivery %s: %w", dl.ID, err)
		}
		if d.Observe != nil {
			outcome := string(dl.State)
			if dl.State == DeliveryPending {
				outcome = "failed"
			}
			d.Observe(dl.Notifier, outcome)
		}
	}
	return rep, nil
}

func (d *Dispatcher) send(ctx context.Context, dl Delivery) error {
	n, ok := d.Notifiers[dl.Notifier]
	if !ok {
		return &NotifyError{Err: fmt.Errorf("no notifier named %q is configured", dl.Notifier), Permanent: true}
	}
	events := make([]Event, 0, len(dl.EventKeys))
	for _, k := range dl.EventKeys {
		e, ok, err := d.Store.Event(k)
		if err != nil {
			return err
		}
		if ok {
			events = append(events, e)
		}
	}
	msgs, err := Messages(d.Store, events)
	if err != nil {
		return err
	}
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	return n.Notify(ctx, Notification{Key: dl.Key, Messages: msgs})
}

// backoff doubles from MinBackoff up to MaxBackoff, with jitter of up to a fifth so that
// deliveries that failed together do not retry together.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := max(d.MinBackoff, time.Second)
	for i := 1; i < attempts && b < d.MaxBackoff; i++ {
		b *= 2
	}
	if d.MaxBackoff > 0 {
		b = min(b, d.MaxBackoff)
	}
	return b + rand.N(b/5+1)
}
