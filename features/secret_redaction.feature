Feature: Secrets in tool invocations are redacted before they are stored
  Tool calls carry whatever the agent gave them and got back: API keys,
  passwords, bearer tokens, private keys. Arguments, results, errors and
  provider metadata are redacted before they reach the database, and log lines
  never contain them.

  Background:
    Given a changeset store
    And a started changeset "A" for plan "plan-1"

  Scenario: Values under secret-looking keys are replaced, at any depth and of any type
    When I record a tool invocation into "A" for plan "plan-1" with arguments
      """
      {"url": "https://api.example.com/v1", "api_key": "live-4f9a8b7c6d5e",
       "headers": {"Authorization": "Bearer abc.DEF.123", "X-Api-Key": 12345, "Accept": "json"},
       "db": {"user": "agent", "password": "hunter2", "credentials": {"otp": "991122"}},
       "steps": [{"accessToken": "tkn-77"}, {"client_secret": ["a", "b"]}, {"privateKey": null}],
       "max_tokens": 512, "token_count": 17, "author": "me", "keyboard": "us"}
      """
    Then the stored arguments are
      """
      {"url": "https://api.example.com/v1", "api_key": "[REDACTED]",
       "headers": {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]", "Accept": "json"},
       "db": {"user": "agent", "password": "[REDACTED]", "credentials": "[REDACTED]"},
       "steps": [{"accessToken": "[REDACTED]"}, {"client_secret": "[REDACTED]"}, {"privateKey": null}],
       "max_tokens": 512, "token_count": 17, "author": "me", "keyboard": "us"}
      """
    And the invocation returned by record_invocation is the one stored
    And no stored text contains "hunter2", "live-4f9a8b7c6d5e", "991122", "tkn-77" or "abc.DEF.123"

  Scenario Outline: Secret-looking text is replaced wherever it appears
    When I record a failing tool invocation into "A" for plan "plan-1" whose error, result and arguments say "<text>"
    Then the stored error, result and argument say "<stored>"

    Examples:
      | text                                                                  | stored                                       |
      | Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl | Authorization: Bearer [REDACTED]             |
      | Authorization: Basic dXNlcjpwYXNzd29yZA==                             | Authorization: Basic [REDACTED]              |
      | git push https://bot:ghp_abcdefghijklmnopqrstuvwxyz0123456789@host/r   | git push https://bot:[REDACTED]@host/r       |
      | export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE                         | export AWS_ACCESS_KEY_ID=[REDACTED]          |
      | OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx failed                | OPENAI_API_KEY=[REDACTED] failed             |
      | login failed: password='hunter2' for user bob                         | login failed: password=[REDACTED] for user bob |
      | psql postgresql://agent:s3cret@db.internal:5432/runs                  | psql postgresql://agent:[REDACTED]@db.internal:5432/runs |
      | slack said xoxb-1234567890-abcdefghijkl                                | slack said [REDACTED]                        |
      | key AIzaSyA1234567890abcdefghijklmnopqrstuv used                       | key [REDACTED] used                          |
      | Basic Authentication failed: token verification error                 | Basic Authentication failed: token verification error |
      | max_tokens exceeded after 4096 tokens                                  | max_tokens exceeded after 4096 tokens        |

  Scenario: A private key in tool output is removed whole
    When I record a tool invocation into "A" for plan "plan-1" whose result is a private key between two lines
    Then the stored result is "cat id_rsa\n[REDACTED]\ndone"

  Scenario: Redaction is configurable
    Given a changeset store that also treats "otp" and "session_pin" as secret keys and "ACME-[0-9]{6}" as a secret value
    When I record a tool invocation into "A" for plan "plan-1" with arguments
      """
      {"otp": "123456", "session_pin": "9999", "note": "licence ACME-424242 applied", "pin": "1"}
      """
    Then the stored arguments are
      """
      {"otp": "[REDACTED]", "session_pin": "[REDACTED]", "note": "licence [REDACTED] applied", "pin": "1"}
      """

  Scenario: Redaction can be turned off, and a wrong redactor is refused
    Given a changeset store whose redactor is disabled
    When I record a tool invocation into "A" for plan "plan-1" with arguments
      """
      {"password": "hunter2"}
      """
    Then the stored arguments are
      """
      {"password": "hunter2"}
      """
    When I try to build a changeset store with the redactor "yes please"
    Then it fails with ValueError

  Scenario: The invocation repository redacts the same way
    When the invocation repository saves an invocation for plan "plan-1" with arguments
      """
      {"token": "abc", "query": "select 1"}
      """
    Then the stored arguments are
      """
      {"token": "[REDACTED]", "query": "select 1"}
      """

  Scenario: Log lines never contain secrets
    When the library logs an event with password "hunter2", headers {"Authorization": "Bearer Zm9vYmFyMTIz"} and a message holding "sk-abcdefghijklmnopqrstuvwxyz"
    Then the log line holds "[REDACTED]" and none of "hunter2", "Zm9vYmFyMTIz" or "sk-abcdefghijklmnopqrstuvwxyz"

  Scenario: Recording and reading secrets logs none of them, even at debug level
    When I record with debug logging a tool invocation into "A" for plan "plan-1" with arguments
      """
      {"api_key": "live-4f9a8b7c6d5e", "cmd": "curl -H 'Authorization: Bearer Zm9vYmFyMTIz' x"}
      """
    Then no log record contains "live-4f9a8b7c6d5e" or "Zm9vYmFyMTIz"
    And plan status of "plan-1" as json on the command line contains neither of them
