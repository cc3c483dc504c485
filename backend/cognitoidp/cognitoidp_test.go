package cognitoidp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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
	if len(pool.asked) != 5 || pool.asked[0] != "eu-west-1_pool/ada" {
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
