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
// returned, retrying some of them as a client would; the parent kills it with
// SIGKILL mid-stream, reopens the file (which Open checks), checks it with
// bbolt's own check, and finds every post the child acknowledged listed exactly
// once.
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
		if p.ID != id || p.Text != "survives "+key || p.AuthorSub != "sub-alice" {
			t.Fatalf("acknowledged post %s (%s) came back as %+v", id, key, p)
		}
	}
	// Exactly once: no post missing, none stored twice (by id, or under a
	// second id for the same request).
	timesByID, timesByText := map[string]int{}, map[string]int{}
	q := wall.PostQuery{Limit: wall.MaxPageLimit, After: wall.MinIDAt(time.UnixMilli(0))}
	for {
		posts, next, err := db.ListPosts(t.Context(), q)
		if err != nil {
			t.Fatalf("list posts after kill -9: %v", err)
		}
		for _, p := range posts {
			timesByID[p.ID]++
			timesByText[p.Text]++
		}
		if next == "" {
			break
		}
		q.After = next
	}
	for key, id := range acked {
		if n, m := timesByID[id], timesByText["survives "+key]; n != 1 || m != 1 {
			t.Fatalf("acknowledged post %s (%s) listed %d times after kill -9, its text %d times; want once", id, key, n, m)
		}
	}
	for id, n := range timesByID {
		if n != 1 {
			t.Fatalf("post %s listed %d times after kill -9", id, n)
		}
	}
	t.Logf("%d acknowledged posts before SIGKILL, each listed once; %d posts in the feed", len(acked), len(timesByID))
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
	// A subscriber, so that the change log is being written and read when
	// the kill comes.
	db.Subscribe(func(wall.Change) {})
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("crash-%d", i)
		now := time.Now().UTC().Truncate(time.Millisecond)
		p, _, err := db.CreatePost(ctx, key, wall.Post{ID: wall.NewID(now), Author: "alice", AuthorSub: "sub-alice", Text: "survives " + key, CreatedAt: now})
		if err != nil {
			fmt.Fprintln(os.Stderr, "create post:", err)
			os.Exit(2)
		}
		// Unbuffered: the parent sees exactly what was acknowledged.
		fmt.Fprintf(os.Stdout, "acked %s %s\n", key, p.ID)
		if i%3 == 0 {
			// A retry of the same request, stamped afresh as the service does.
			again, created, err := db.CreatePost(ctx, key, wall.Post{ID: wall.NewID(time.Now()), Author: "alice", AuthorSub: "sub-alice", Text: "survives " + key, CreatedAt: time.Now()})
			if err != nil || created || again.ID != p.ID {
				fmt.Fprintln(os.Stderr, "retry of", key, "created", created, "as", again.ID, "error", err)
				os.Exit(2)
			}
		}
	}
	os.Exit(3)
}
