@persistent
Feature: Many writer processes on one database lose nothing
  Parallel agents share one SQLite file on a machine, and a fleet shares one
  PostgreSQL server. Every write that a caller was told succeeded is in the
  database exactly once; no error reaches a caller; no increment is lost.

  Scenario: SQLite writers take the write lock when their transaction begins
    Given a changeset store
    And a started changeset "A" for plan "plan-1"
    When I record into "A" for plan "plan-1" while watching the SQL
      | path  | operation |
      | a.txt | create    |
    Then on SQLite the write transaction began with "BEGIN IMMEDIATE"

  Scenario: Writer processes at once: records, error occurrences and snapshots
    When the concurrent writers of this backend run their operations at once
      | backend     | processes | records | invocations | occurrences | snapshots | reads |
      | sqlite-file | 8         | 500     | 0           | 50          | 5         | 0     |
      | postgres    | 16        | 300     | 80          | 80          | 5         | 35    |
    Then no error reached a caller
    And every record, invocation, occurrence and snapshot is in the database exactly once
