Feature: Retries, error translation and concurrent writers
  Transient failures are retried within bounds; everything else becomes the
  library's own error with the original as its cause; writers in several
  processes lose nothing.

  Scenario: A transient failure is retried until it succeeds
    Given a function that fails 2 times with "sqlite locked" before succeeding
    When I call it through database_retry
    Then it was called 3 times
    And it returned "done"

  Scenario Outline: Transient failures of every backend are recognised
    Given a function that fails 1 times with "<failure>" before succeeding
    When I call it through database_retry
    Then it was called 2 times

    Examples:
      | failure                    |
      | sqlite locked              |
      | sqlite busy                |
      | postgres serialization     |
      | postgres deadlock          |
      | postgres connection lost   |
      | connection invalidated     |
      | pool timeout               |

  Scenario Outline: Permanent failures are not retried and become DatabaseError
    Given a function that fails 1 times with "<failure>" before succeeding
    When I try to call it through database_retry
    Then it was called 1 times
    And it fails with <error>
    And the original exception is its cause

    Examples:
      | failure                | error                 |
      | unique violation       | DuplicateRecordError  |
      | postgres unique        | DuplicateRecordError  |
      | foreign key violation  | RecordNotFoundError   |
      | other integrity        | DatabaseError         |
      | programming error      | DatabaseError         |
      | sqlite disk io         | DatabaseError         |
      | postgres syntax        | DatabaseError         |

  Scenario: Retries stop after the configured number of attempts
    Given a function that fails 10 times with "sqlite locked" before succeeding
    When I try to call it through database_retry with 3 attempts
    Then it was called 3 times
    And it fails with DatabaseError
    And the original exception is its cause

  Scenario: Errors that are not database errors pass through untouched
    Given a function that fails 1 times with "value error" before succeeding
    When I try to call it through database_retry
    Then it was called 1 times
    And it fails with ValueError

  Scenario: database_retry refuses nonsense settings
    When I try to configure database_retry with 0 attempts
    Then it fails with ValueError
    When I try to configure database_retry with a deadline of 0 seconds
    Then it fails with ValueError

  Scenario: Passwords never appear in a masked URL
    Then the URL "postgresql+psycopg://agent:s3cret@db.example:5432/runs" is shown as "postgresql+psycopg://agent:***@db.example:5432/runs"
    And the URL "not a url ://user:s3cret@x" is shown without "s3cret"

  @persistent
  Scenario: A writer waits for another writer's lock and then succeeds
    Given a changeset store
    And a started changeset "A" for plan "plan-1"
    When another connection holds the write lock on the entries for 1 second
    And I record into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
    Then changeset "A" reads back exactly the recorded entries

  @persistent
  Scenario: Concurrent writer processes lose nothing
    Given a changeset store
    And a started changeset "A" for plan "plan-1"
    When 4 processes each record 100 entries into "A" for plan "plan-1" one by one
    Then changeset "A" holds 400 entries
    And each process's entries are in its recording order

  Scenario: A unit of work that meets a transient failure is run again as a whole
    Given a changeset store
    When a unit of work fails once with "sqlite locked" and then succeeds
    Then the unit of work ran 2 times
    And its result is returned

  Scenario: A unit of work that meets a permanent failure is not run again
    Given a changeset store
    When a unit of work fails once with "programming error" and then succeeds
    Then the unit of work ran 1 times
    And it fails with DatabaseError

  Scenario: A SQLite file is durable and gives its write-ahead log back after a large write
    A SQLite file of its own, whatever the backend of this run: the settings are
    the embedded engine's. SQLite reuses its WAL file at the size of the largest
    transaction unless a journal size limit truncates it when the log restarts.
    Given a SQLite database file of its own
    When a 12 MB changeset batch and then one small entry are recorded in it
    Then its journal mode is WAL, synchronous FULL, with foreign keys on
    And its write-ahead log file is at most 4 MiB
