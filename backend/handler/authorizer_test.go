package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// aliceClaims are what a verifier learns from the fixture's token.
var aliceClaims = wall.Claims{
	Identity:  wall.Identity{Sub: "7d8ca528-4931-4254-9273-ea5ee853f271", Username: "alice"},
	ClientID:  "4hq7l1f2ehcd0a3rthn0pa1s2s",
	Scope:     "openid email",
	ExpiresAt: time.Unix(1763003600, 0).UTC(),
}

func connectAuthorizerRequest(t *testing.T, name string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	return loadEventFixture[events.APIGatewayCustomAuthorizerRequestTypeRequest](t, name, nil)
}

// verifierAccepting accepts exactly one token and counts its calls.
func verifierAccepting(token string, claims wall.Claims, calls *int) verifierFunc {
	return func(_ context.Context, got string) (wall.Claims, error) {
		*calls++
		if got != token {
			return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "The token's signature does not verify.")
		}
		return claims, nil
	}
}

func TestAuthorizerAllowsAValidToken(t *testing.T) {
	req := connectAuthorizerRequest(t, "authorizer-connect.json")
	token := req.QueryStringParameters["token"]
	calls := 0
	log, logs := capturedLogger()
	auth := &handler.Authorizer{Verifier: verifierAccepting(token, aliceClaims, &calls), Log: log}

	resp, err := auth.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if calls != 1 {
		t.Errorf("verifier called %d times", calls)
	}
	if resp.PrincipalID != aliceClaims.Sub {
		t.Errorf("principal %q", resp.PrincipalID)
	}
	want := events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{{
			Action:   []string{"execute-api:Invoke"},
			Effect:   "Allow",
			Resource: []string{req.MethodArn},
		}},
	}
	if fmt.Sprint(resp.PolicyDocument) != fmt.Sprint(want) {
		t.Errorf("policy %+v, want %+v", resp.PolicyDocument, want)
	}
	if !strings.HasSuffix(req.MethodArn, "/prod/$connect") {
		t.Fatalf("fixture's methodArn %q is not a $connect route", req.MethodArn)
	}
	wantContext := map[string]any{"sub": aliceClaims.Sub, "username": "alice", "exp": int64(1763003600), "admin": "false"}
	if fmt.Sprint(resp.Context) != fmt.Sprint(wantContext) {
		t.Errorf("context %#v, want %#v", resp.Context, wantContext)
	}
	if _, ok := resp.Context["exp"].(int64); !ok {
		t.Errorf("exp is %T, want int64", resp.Context["exp"])
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the log holds the token:\n%s", logs)
	}
}

// Through the runtime codec the answer has the shape API Gateway reads.
func TestAuthorizerAnswerThroughTheLambdaRuntimeCodec(t *testing.T) {
	req := connectAuthorizerRequest(t, "authorizer-connect.json")
	calls := 0
	auth := &handler.Authorizer{Verifier: verifierAccepting(req.QueryStringParameters["token"], aliceClaims, &calls)}
	out, err := lambda.NewHandler(auth.Handle).Invoke(context.Background(), readEventFixture(t, "authorizer-connect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Version   string
			Statement []struct {
				Action   []string
				Effect   string
				Resource []string
			}
		} `json:"policyDocument"`
		Context map[string]json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	st := got.PolicyDocument.Statement
	if got.PrincipalID != aliceClaims.Sub || got.PolicyDocument.Version != "2012-10-17" || len(st) != 1 ||
		st[0].Effect != "Allow" || st[0].Resource[0] != req.MethodArn || st[0].Action[0] != "execute-api:Invoke" {
		t.Errorf("answer %s", out)
	}
	if string(got.Context["exp"]) != "1763003600" || string(got.Context["username"]) != `"alice"` {
		t.Errorf("context %s", out)
	}
}

func TestAuthorizerRefusesMissingToken(t *testing.T) {
	calls := 0
	log, logs := capturedLogger()
	auth := &handler.Authorizer{Verifier: verifierAccepting("never", aliceClaims, &calls), Log: log}
	resp, err := auth.Handle(context.Background(), connectAuthorizerRequest(t, "authorizer-connect-no-token.json"))
	assertUnauthorized(t, resp, err)
	if calls != 0 {
		t.Errorf("the verifier was asked about a missing token")
	}
	if !strings.Contains(logs.String(), "no token") {
		t.Errorf("the denial's reason is not logged:\n%s", logs)
	}
}

func TestAuthorizerRefusesInvalidTokens(t *testing.T) {
	base := connectAuthorizerRequest(t, "authorizer-connect.json")
	token := base.QueryStringParameters["token"]
	cases := map[string]struct {
		verify     verifierFunc
		wantLog    string
		wantErrLog bool
	}{
		"invalid": {
			verify: func(context.Context, string) (wall.Claims, error) {
				return wall.Claims{}, fmt.Errorf("verifying access token: %w", wall.Errorf(wall.EUNAUTHORIZED, "The token has expired."))
			},
			wantLog: "The token has expired.",
		},
		"verifier cannot reach its keys": {
			verify: func(context.Context, string) (wall.Claims, error) {
				// Here the token itself appears in the error, which must still not reach the log.
				return wall.Claims{}, fmt.Errorf("fetching JWKS for %s: connection refused", token)
			},
			wantLog:    "connection refused",
			wantErrLog: true,
		},
		"verified token without username": {
			verify: func(context.Context, string) (wall.Claims, error) {
				c := aliceClaims
				c.Username = ""
				return c, nil
			},
			wantLog: "without sub, username or exp",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			log, logs := capturedLogger()
			auth := &handler.Authorizer{Verifier: tc.verify, Log: log}
			resp, err := auth.Handle(context.Background(), base)
			assertUnauthorized(t, resp, err)
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("the reason %q is not logged:\n%s", tc.wantLog, logs)
			}
			if tc.wantErrLog != strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("logged as error: %v, want %v:\n%s", !tc.wantErrLog, tc.wantErrLog, logs)
			}
			if strings.Contains(logs.String(), token) {
				t.Errorf("the log holds the token:\n%s", logs)
			}
		})
	}
}

func TestAuthorizerForgedTokenFromTheFixture(t *testing.T) {
	req := connectAuthorizerRequest(t, "authorizer-connect.json")
	genuine := req.QueryStringParameters["token"]
	// Same header and payload, another signature.
	req.QueryStringParameters["token"] = genuine[:strings.LastIndex(genuine, ".")+1] + "Zm9yZ2Vk"
	calls := 0
	log, _ := capturedLogger()
	auth := &handler.Authorizer{Verifier: verifierAccepting(genuine, aliceClaims, &calls), Log: log}
	resp, err := auth.Handle(context.Background(), req)
	assertUnauthorized(t, resp, err)
	if calls != 1 {
		t.Errorf("verifier called %d times", calls)
	}
}

func assertUnauthorized(t *testing.T, resp events.APIGatewayCustomAuthorizerResponse, err error) {
	t.Helper()
	// API Gateway answers 401 only for exactly this message.
	if err == nil || err.Error() != "Unauthorized" || !errors.Is(err, handler.ErrUnauthorized) {
		t.Fatalf("error %v, want Unauthorized", err)
	}
	if resp.PrincipalID != "" || len(resp.PolicyDocument.Statement) != 0 || resp.Context != nil {
		t.Errorf("a refusal carries a policy: %+v", resp)
	}
}
