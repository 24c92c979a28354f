package storage

import (
	"context"
	"log/slog"
	"time"
)

// Keeper looks after the open database while the daemon runs: the whole file checked
// once a day (the open checked it first), and rotating backups when BackupDir is set.
type Keeper struct {
	DB         *DB
	CheckEvery time.Duration // 0: 24h
	// Rotating backups: one every BackupEvery into BackupDir, the newest BackupKeep kept.
	BackupDir   string // "": none
	BackupEvery time.Duration
	BackupKeep  int
	Log         *slog.Logger
	// ObserveBackup hears of each backup taken (err nil) or failed; FoundBackup, at start,
	// of the newest already in BackupDir. nil: none.
	ObserveBackup func(at time.Time, err error)
	FoundBackup   func(at time.Time)
	Now           func() time.Time // nil: time.Now
}

// backupRetry is how soon a failed backup is tried again (a full disk, a damaged file).
const backupRetry = time.Hour

// Run checks and backs up on schedule until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	now := k.Now
	if now == nil {
		now = time.Now
	}
	checkEvery := k.CheckEvery
	if checkEvery <= 0 {
		checkEvery = 24 * time.Hour
	}
	nextCheck := now().Add(checkEvery)
	var nextBackup time.Time
	if k.BackupDir != "" {
		nextBackup = now() // unless a recent backup is there already
		if all, err := RotatingBackups(k.BackupDir); err == nil && len(all) > 0 {
			newest := all[len(all)-1]
			nextBackup = newest.Taken.Add(k.BackupEvery)
			if k.FoundBackup != nil {
				k.FoundBackup(newest.Taken)
			}
		}
	}
	for {
		next := nextCheck
		if !nextBackup.IsZero() && nextBackup.Before(next) {
			next = nextBackup
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(next.Sub(now()), 0)):
		}
		if t := now(); !t.Before(nextCheck) {
			k.check()
			nextCheck = t.Add(checkEvery)
		}
		if t := now(); !nextBackup.IsZero() && !t.Before(nextBackup) {
			nextBackup = t.Add(k.backup(t))
		}
	}
}

func (k *Keeper) check() {
	c := k.DB.Check()
	if !c.Sound() {
		k.Log.Error("the database is damaged; it is not written until a backup is restored", "err", k.DB.Damaged(), "took", c.Took.String())
		return
	}
	k.Log.Info("database checked: sound", "path", k.DB.path, "took", c.Took.String())
}

// backup takes one backup and says when the next is due.
func (k *Keeper) backup(at time.Time) time.Duration {
	b, err := k.DB.BackupInto(k.BackupDir, k.BackupKeep, at)
	if k.ObserveBackup != nil {
		k.ObserveBackup(b.Taken, err)
	}
	if err != nil {
		k.Log.Error("backup failed; the older backups are kept", "err", err, "retry", backupRetry.String())
		return min(backupRetry, k.BackupEvery)
	}
	k.Log.Info("backup taken", "file", b.File, "keep", k.BackupKeep)
	return k.BackupEvery
}
