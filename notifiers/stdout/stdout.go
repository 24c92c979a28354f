// Package stdout prints events, one line each: the notifier with no configuration, and
// the one every event goes to when no route is configured.
package stdout

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/nodewatch/nodewatch/tracker"
)

// Notifier writes one line per message.
type Notifier struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

// New returns a notifier named name writing to w.
func New(name string, w io.Writer) *Notifier { return &Notifier{name: name, w: w} }

// Name implements tracker.Notifier.
func (n *Notifier) Name() string { return n.name }

// Notify implements tracker.Notifier.
func (n *Notifier) Notify(_ context.Context, note tracker.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range note.Messages {
		if _, err := fmt.Fprintln(n.w, m.Summary()); err != nil {
			return err
		}
	}
	return nil
}
