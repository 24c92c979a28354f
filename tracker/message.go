package tracker

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Message is an event with what a person needs to read it: the linked image, the
// Flatcar release or the AKS release it is about.
type Message struct {
	Event   Event           `json:"event"`
	Image   *ImageView      `json:"image,omitempty"`
	Flatcar *FlatcarRelease `json:"flatcar,omitempty"`
	AKS     *AKSRelease     `json:"aks,omitempty"`
	// Family is the family a family_added or family_quiet event is about.
	Family *FamilyStatus `json:"family,omitempty"`
	// Pool is the pool a pool_behind or pool_current event is about, as it stood then.
	Pool *NodePool `json:"pool,omitempty"`
	// Security is what a node image fixes and lacks in full, where Image counts it: a
	// message names the first few.
	Security *ImageSecurity `json:"security,omitempty"`
}

// Notification is what one notifier is asked to deliver at once: one event's message, or
// a digest route's messages of one cycle.
type Notification struct {
	// Key names the notification: the event key, or the digest's key. The GitHub
	// notifier marks its issue with it, so that a retry finds the issue it made before.
	Key      string
	Messages []Message
}

// Notifier delivers notifications somewhere people read them. A notifier says whether an
// error is worth a retry by returning a *NotifyError; any other error is retried.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, n Notification) error
}

// NotifyError is a failed delivery with the notifier's word on retrying it.
type NotifyError struct {
	Err error
	// Permanent means a retry would fail the same way (bad credentials, unknown channel,
	// a rejected payload): the delivery is given up at once.
	Permanent bool
	// RetryAfter is the wait the receiver asked for (Retry-After, rate limit reset).
	RetryAfter time.Duration
}

func (e *NotifyError) Error() string { return e.Err.Error() }
func (e *NotifyError) Unwrap() error { return e.Err }

// Messages resolves events against the store.
func Messages(s Store, events []Event) ([]Message, error) {
	var views map[string]ImageView
	var sorted []NodeImage
	var src *securitySources
	var families map[string]FamilyStatus
	out := make([]Message, 0, len(events))
	for _, e := range events {
		m := Message{Event: e}
		switch e.Kind {
		case EventFamilyAdded, EventFamilyQuiet:
			if families == nil {
				images, err := s.Images("")
				if err != nil {
					return nil, err
				}
				families = map[string]FamilyStatus{}
				for _, f := range FamilyStatuses(images) {
					families[f.Family] = f
				}
			}
			if f, ok := families[e.Subject]; ok {
				m.Family = &f
			}
		case EventPoolBehind, EventPoolCurrent:
			p, err := PoolOf(s, e)
			if err != nil {
				return nil, err
			}
			m.Pool = p
		case EventNodeImage:
			if views == nil {
				images, err := s.Images("")
				if err != nil {
					return nil, err
				}
				releases, err := s.FlatcarReleases("")
				if err != nil {
					return nil, err
				}
				sorted = SortImages(images)
				if src, err = newSecuritySources(s, releases); err != nil {
					return nil, err
				}
				views = map[string]ImageView{}
				for _, v := range linkSorted(sorted, releases, src.channels) {
					views[v.Family+"\x00"+v.Version] = v
				}
			}
			if v, ok := views[e.Subject+"\x00"+e.Version]; ok {
				m.Image = &v
				d, err := detail(s, v, sorted, src)
				if err != nil {
					return nil, err
				}
				m.Security = d.Security
			}
		case EventFlatcarRelease:
			rs, err := s.FlatcarReleases(e.Subject)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				if r.Version == e.Version {
					m.Flatcar = &r
				}
			}
		case EventAKSRelease:
			rs, err := s.AKSReleases(e.Subject)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				if r.Tag == e.Version {
					m.AKS = &r
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Summary is the message in one line.
func (m Message) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", m.Event.Kind, m.Event.Subject, m.Event.Version)
	switch {
	case m.Family != nil && m.Event.Kind == EventFamilyAdded:
		f := m.Family
		fmt.Fprintf(&b, ": a new %s family; newest image %s", f.OSLine, f.Newest)
		if f.NodeImageVersion != "" {
			fmt.Fprintf(&b, " (%s)", f.NodeImageVersion)
		}
		fmt.Fprintf(&b, ", %s %s, kernel %s; %s", f.OSName, deref(f.OSVersion, "(version unknown)"), deref(f.Kernel, "none"), f.NotesURL)
	case m.Family != nil && m.Event.Kind == EventFamilyQuiet:
		f := m.Family
		fmt.Fprintf(&b, ": %s", f.QuietText())
	case m.Pool != nil && m.Event.Kind == EventPoolBehind:
		p := m.Pool
		fmt.Fprintf(&b, ": %s", p.PoolText())
		if k := p.RunningKernel(); k != "" || p.NewestKernel != nil {
			fmt.Fprintf(&b, "; kernel running %s, newest %s", orDash(k), deref(p.NewestKernel, "-"))
		}
		if len(p.Changes) > 0 {
			parts := make([]string, len(p.Changes))
			for i, c := range p.Changes {
				parts[i] = c.Text()
			}
			fmt.Fprintf(&b, "; the upgrade brings: %s", strings.Join(parts, "; "))
		}
		if line := p.SecurityText(); line != "" {
			fmt.Fprintf(&b, "; %s", line)
		}
		if p.NewestNotesURL != "" {
			fmt.Fprintf(&b, "; %s", p.NewestNotesURL)
		}
	case m.Pool != nil && m.Event.Kind == EventPoolCurrent:
		fmt.Fprintf(&b, ": caught up; %s", m.Pool.PoolText())
	case m.Image != nil:
		im := m.Image
		fmt.Fprintf(&b, ": %s %s, kernel %s", im.OS.Name, deref(im.OS.Version, "(version unknown)"), deref(im.Kernel, "none"))
		if f := im.Flatcar; f != nil {
			if f.Channel != nil {
				fmt.Fprintf(&b, ", Flatcar %s from %s released %s", f.Version, *f.Channel, f.ReleasedAt.Format(time.DateOnly))
			} else {
				fmt.Fprintf(&b, ", Flatcar %s (not in Flatcar's feeds yet)", f.Version)
			}
		}
		if im.Previous != nil {
			if len(im.Changes) == 0 {
				fmt.Fprintf(&b, "; no change against %s", *im.Previous)
			} else {
				parts := make([]string, len(im.Changes))
				for i, c := range im.Changes {
					parts[i] = c.Text()
				}
				fmt.Fprintf(&b, "; since %s: %s", *im.Previous, strings.Join(parts, "; "))
			}
		}
		if line := m.SecurityLine(); line != "" {
			fmt.Fprintf(&b, "; %s", line)
		}
		if im.NodeImageVersion != "" {
			fmt.Fprintf(&b, "; node image version %s", im.NodeImageVersion)
		}
		fmt.Fprintf(&b, "; %s", im.NotesURL)
	case m.Flatcar != nil:
		r := m.Flatcar
		fmt.Fprintf(&b, ": kernel %s, released %s; %s", orDash(r.Kernel), r.ReleasedAt.Format(time.RFC3339), r.NotesURL)
	case m.AKS != nil:
		r := m.AKS
		imgs := make([]string, len(r.NodeImages))
		for i, n := range r.NodeImages {
			imgs[i] = n.OS + " " + n.Version
		}
		fmt.Fprintf(&b, ": published %s", r.PublishedAt.Format(time.RFC3339))
		if len(imgs) > 0 {
			fmt.Fprintf(&b, ", node images %s", strings.Join(imgs, ", "))
		}
		fmt.Fprintf(&b, "; %s", r.URL)
	}
	return b.String()
}

func deref(s *string, none string) string {
	if s == nil {
		return none
	}
	return *s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
