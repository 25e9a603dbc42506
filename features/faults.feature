Feature: Faults: a locked, stopped, full, read-only or corrupt database
  A fault ends in the library's own DatabaseError (on the command line: exit 1 and
  one "error:" line), within bounded time, and leaves the data written before it
  intact. A lock held by another process is waited for, not reported.

  Faults that belong to one engine bring a database of that engine of their own,
  so that every backend run proves them: the SQLite faults (full disk, corrupt
  file) use a SQLite file of their own, and the stopped server is a throwaway
  PostgreSQL cluster of its own (the scenarios' shared server is never stopped).
  The COMMIT whose outcome is unknown is covered by features/error_patterns.feature
  ("A COMMIT of record_occurrence that fails ... is reported, never repeated").

  @persistent
  Scenario Outline: A call waits while another process holds a lock for 2 seconds, then succeeds
    Given the scenario database holds changeset "A" of plan "plan-1" with 2 entries of 1 KB and error pattern "p1" seen 3 times
    And the sandbox of plan "plan-1" has a checkpoint
    When another process holds a lock on table "<table>" for 2 seconds while I call <call>
    Then the call succeeded after waiting at least 1.5 seconds
    And what <call> wrote reads back through a new connection

    Examples:
      | call                      | table             |
      | record                    | changeset_entries |
      | record_occurrence         | error_patterns    |
      | create_workspace_snapshot | checkpoints       |

  Scenario: A stopped PostgreSQL server: calls fail with DatabaseError after bounded retries, and work again once it is back
    Given a PostgreSQL server of its own holds changeset "A" of plan "plan-1" with 2 entries of 1 KB and error pattern "p1" seen 3 times
    And the sandbox of plan "plan-1" has a checkpoint
    When the PostgreSQL server of its own stops at once
    Then each of these calls fails with a DatabaseError of the library's own within 10 seconds, after bounded retries
      | call                      |
      | record                    |
      | record_many               |
      | record_invocation         |
      | record_occurrence         |
      | get                       |
      | create_workspace_snapshot |
    When I run "plan status plan-1" on the fault database
    Then the exit code is 1
    And stderr is exactly one line starting with "error:"
    And the command took less than 10 seconds
    When the PostgreSQL server of its own starts again
    Then each of these calls succeeds
      | call                      |
      | record                    |
      | record_occurrence         |
      | create_workspace_snapshot |
    And changeset "A" of the fault database holds its earlier entries and 1 more
    And error pattern "p1" of the fault database was seen 4 times

  Scenario: A full SQLite database refuses a big batch with DatabaseError, writes none of it and keeps what it had
    Given a SQLite file of its own holds changeset "A" of plan "plan-1" with 5 entries of 1 KB and error pattern "p1" seen 3 times
    And the SQLite file may grow by no more than 64 pages
    When I try to record a batch of 500 entries of 2 KB into changeset "A" of the fault database
    Then it fails with DatabaseError
    And the error is the library's own, says "database or disk is full", and has the driver's error as its cause
    And changeset "A" of the fault database holds its earlier entries and 0 more
    And the SQLite file passes an integrity check
    When the SQLite file may grow again
    And I record the same batch again
    Then changeset "A" of the fault database holds its earlier entries and 500 more

  Scenario: A process that may not write past 256 KB of any file gets DatabaseError from record_many, and the data stays intact
    Given a SQLite file of its own holds changeset "A" of plan "plan-1" with 5 entries of 1 KB and error pattern "p1" seen 3 times
    When a process that may write no file beyond 256 KB records a batch of 500 entries of 2 KB into changeset "A" of the fault database
    Then that process could not write past 256 KB, was not killed, and got a DatabaseError of the library's own with the driver's error as its cause
    And changeset "A" of the fault database holds its earlier entries and 0 more
    And the SQLite file passes an integrity check

  Scenario: The command line in a process that may not write past 256 KB of any file fails with one error line, and the data stays intact
    Given a SQLite file of its own holds changeset "A" of plan "plan-1" with 300 entries of 2 KB and error pattern "p1" seen 3 times
    When I run "plan cleanup plan-1" in a process that may write no file beyond 256 KB
    Then the exit code is 1
    And stderr is exactly one line starting with "error:"
    And stderr contains "disk"
    And stderr does not contain "Traceback"
    And changeset "A" of the fault database holds its earlier entries and 0 more
    And the SQLite file passes an integrity check

  @persistent
  Scenario: A read-only database: reads work, every write fails with DatabaseError, nothing changes
    Given the scenario database holds changeset "A" of plan "plan-1" with 2 entries of 1 KB and error pattern "p1" seen 3 times
    And the sandbox of plan "plan-1" has a checkpoint
    When I open the fault database read-only
    Then reading through the read-only database gives changeset "A" with its earlier entries and error pattern "p1" seen 3 times
    And through the read-only database each of these calls fails with a DatabaseError of the library's own
      | call                      |
      | start                     |
      | record                    |
      | record_many               |
      | record_invocation         |
      | record_occurrence         |
      | create error pattern      |
      | create_workspace_snapshot |
      | delete_for_plan           |
    And changeset "A" of the fault database holds its earlier entries and 0 more
    And error pattern "p1" of the fault database was seen 3 times
    When I run "plan status plan-1 --format json" on the read-only database
    Then the exit code is 0
    When I run "plan cleanup plan-1" on the read-only database
    Then the exit code is 1
    And stderr is exactly one line starting with "error:"
    And changeset "A" of the fault database holds its earlier entries and 0 more

  Scenario: A SQLite file with garbage over its header: a DatabaseError naming the file, and one error line on the command line
    Given a SQLite file of its own holds changeset "A" of plan "plan-1" with 2 entries of 1 KB and error pattern "p1" seen 3 times
    When garbage is written over the first 4096 bytes of the SQLite file
    Then opening the SQLite file, migrating or not, raises a DatabaseError of the library's own naming the file
    And a call through the session factory opened before the damage raises a DatabaseError of the library's own naming the file
    When I run "plan status plan-1" in a new process on the fault database
    Then the exit code is 1
    And stderr is exactly one line starting with "error:"
    And stderr names the SQLite file
    And stderr does not contain "Traceback"

  Scenario: A file that is not a database: a DatabaseError naming the file, which is left untouched
    Given a SQLite file of its own that holds text, not a database
    Then opening the SQLite file, migrating or not, raises a DatabaseError of the library's own naming the file
    And the SQLite file still holds the same text
    When I run "plan status p" in a new process on the fault database
    Then the exit code is 1
    And stderr is exactly one line starting with "error:"
    And stderr names the SQLite file
    And stderr does not contain "Traceback"
    And the SQLite file still holds the same text
