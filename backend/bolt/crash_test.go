package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

// crashChildEnv, when set, makes TestAcknowledgedPostsSurviveKill act as the
// child process: it names the store file to write to.
const crashChildEnv = "POSTWALL_STORE_CRASH_CHILD"

// TestAcknowledgedPostsSurviveKill runs this test binary again as a child that
// writes posts as fast as it can and prints each one once CreatePost has
// returned; the parent kills it with SIGKILL mid-stream, reopens the file, checks
// it and finds every post the child acknowledged.
//
// A killed process loses nothing the kernel already holds, so this proves that
// CreatePost returns only after its commit is written and that a commit cut
// short leaves a consistent file. Surviving a power cut as well is what bbolt's
// fsync on every commit is for; no test can pull the plug.
func TestAcknowledgedPostsSurviveKill(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		writeUntilKilled(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "postwall.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedPostsSurviveKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("child stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}

	const killAfter = 100
	acked := map[string]string{} // request key -> post id
	var other []string
	lines := bufio.NewScanner(stdout)
	killed := false
	for lines.Scan() {
		key, id, ok := parseAck(lines.Text())
		if !ok {
			other = append(other, lines.Text())
			continue
		}
		acked[key] = id
		if len(acked) == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			killed = true // keep reading: lines already written were acknowledged too
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d acknowledged posts (%v)\nstdout: %s\nstderr: %s", len(acked), err, other, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\nstderr: %s", err, stderr.String())
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	// bbolt's own consistency check: pages, freelist and tree all agree.
	err = db.Bolt().View(func(tx *bbolt.Tx) error {
		var problems []error
		for err := range tx.Check() {
			problems = append(problems, err)
		}
		return errors.Join(problems...)
	})
	if err != nil {
		t.Fatalf("store file inconsistent after kill -9: %v", err)
	}
	for key, id := range acked {
		p, err := db.PostByRequest(t.Context(), key)
		if err != nil {
			t.Fatalf("acknowledged post %s (%s) lost after kill -9: %v", id, key, err)
		}
		if p.ID != id || p.Text != "survives "+key {
			t.Fatalf("acknowledged post %s (%s) came back as %+v", id, key, p)
		}
	}
	listed := map[string]bool{}
	q := wall.PostQuery{Limit: wall.MaxPageLimit, After: wall.MinIDAt(time.UnixMilli(0))}
	for {
		posts, next, err := db.ListPosts(t.Context(), q)
		if err != nil {
			t.Fatalf("list posts after kill -9: %v", err)
		}
		for _, p := range posts {
			listed[p.ID] = true
		}
		if next == "" {
			break
		}
		q.After = next
	}
	for key, id := range acked {
		if !listed[id] {
			t.Fatalf("acknowledged post %s (%s) missing from the feed after kill -9", id, key)
		}
	}
	t.Logf("%d acknowledged posts before SIGKILL, all found; %d posts in the feed", len(acked), len(listed))
}

func parseAck(line string) (key, id string, ok bool) {
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "acked" {
		return "", "", false
	}
	return fields[1], fields[2], true
}

// writeUntilKilled is the child: it writes posts until it is killed, printing
// each one after CreatePost returned. It gives up after a while in case the
// parent died without killing it.
func writeUntilKilled(path string) {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("crash-%d", i)
		now := time.Now().UTC().Truncate(time.Millisecond)
		p, _, err := db.CreatePost(ctx, key, wall.Post{ID: wall.NewID(now), Author: "alice", Text: "survives " + key, CreatedAt: now})
		if err != nil {
			fmt.Fprintln(os.Stderr, "create post:", err)
			os.Exit(2)
		}
		// Unbuffered: the parent sees exactly what was acknowledged.
		fmt.Fprintf(os.Stdout, "acked %s %s\n", key, p.ID)
	}
	os.Exit(3)
}
