package cognitoidp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/postwall/postwall/backend/cognitoidp"
	"github.com/postwall/postwall/backend/wall"
)

// userPool answers AdminGetUser as Cognito's JSON protocol does.
type userPool struct {
	mu    sync.Mutex
	asked []string
	users map[string]map[string]any
}

func (p *userPool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.AdminGetUser" {
		http.Error(w, "unexpected target "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct{ UserPoolId, Username string }
	_ = json.Unmarshal(body, &in)
	p.mu.Lock()
	p.asked = append(p.asked, in.UserPoolId+"/"+in.Username)
	u, ok := p.users[in.Username]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if !ok {
		w.Header().Set("X-Amzn-ErrorType", "UserNotFoundException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UserNotFoundException","message":"User does not exist."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(u)
}

func user(name, sub string, enabled bool, status string) map[string]any {
	return map[string]any{"Username": name, "Enabled": enabled, "UserStatus": status, "UserCreateDate": 1.7e9,
		"UserAttributes": []map[string]string{{"Name": "email", "Value": name + "@example.com"}, {"Name": "sub", "Value": sub}}}
}

func TestLookupUsers(t *testing.T) {
	pool := &userPool{users: map[string]map[string]any{
		"ada":    user("ada", "sub-ada", true, "CONFIRMED"),
		"bob":    user("bob", "sub-bob", true, "CONFIRMED"),
		"off":    user("off", "sub-off", false, "CONFIRMED"),
		"unconf": user("unconf", "sub-unconf", true, "UNCONFIRMED"),
	}}
	srv := httptest.NewServer(pool)
	defer srv.Close()
	client := cognitoidentityprovider.New(cognitoidentityprovider.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	d := &cognitoidp.Directory{Client: client, UserPoolID: "eu-west-1_pool"}
	got, err := d.LookupUsers(t.Context(), []string{"ada", "nobody", "off", "unconf", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	joined := time.Unix(1.7e9, 0).UTC()
	want := []wall.Member{{Identity: wall.Identity{Sub: "sub-ada", Username: "ada"}, JoinedAt: joined},
		{Identity: wall.Identity{Sub: "sub-bob", Username: "bob"}, JoinedAt: joined}}
	if !slices.Equal(got, want) {
		t.Fatalf("LookupUsers = %v, want %v (missing, disabled and unconfirmed users left out)", got, want)
	}
	// Asked at once, so in any order: each name once, of this pool.
	if asked := slices.Sorted(slices.Values(pool.asked)); !slices.Equal(asked, []string{"eu-west-1_pool/ada", "eu-west-1_pool/bob",
		"eu-west-1_pool/nobody", "eu-west-1_pool/off", "eu-west-1_pool/unconf"}) {
		t.Fatalf("asked %v", pool.asked)
	}
}

func TestLookupUsersFailsOnOtherErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"TooManyRequestsException","message":"Rate exceeded"}`))
	}))
	defer srv.Close()
	client := cognitoidentityprovider.New(cognitoidentityprovider.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		RetryMaxAttempts: 1,
	})
	d := &cognitoidp.Directory{Client: client, UserPoolID: "p"}
	if _, err := d.LookupUsers(t.Context(), []string{"ada"}); err == nil {
		t.Fatal("a throttled lookup gave no error")
	}
}

func TestLookupUsersAsksAtOnceAndKeepsTheOrder(t *testing.T) {
	pool := &userPool{users: map[string]map[string]any{}}
	var names []string
	for i := range 100 {
		n := fmt.Sprintf("user%03d", i)
		names = append(names, n)
		pool.users[n] = user(n, "sub-"+n, true, "CONFIRMED")
	}
	// Each answer waits until several calls are in flight: a lookup that
	// asked one name at a time would never get there.
	var inFlight, most atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		deadline := time.Now().Add(time.Second)
		for most.Load() < 5 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		pool.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := cognitoidentityprovider.New(cognitoidentityprovider.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	got, err := (&cognitoidp.Directory{Client: client, UserPoolID: "p"}).LookupUsers(t.Context(), names)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("found %d users, want 100", len(got))
	}
	for i, m := range got {
		if m.Username != names[i] {
			t.Fatalf("user %d is %s, want %s: the order asked", i, m.Username, names[i])
		}
	}
	if most.Load() < 5 || most.Load() > 10 {
		t.Errorf("at most %d calls in flight, want 5 to 10", most.Load())
	}
}
