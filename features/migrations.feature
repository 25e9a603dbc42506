Feature: Schema migrations
  Alembic owns the schema: it upgrades, downgrades and upgrades again on every
  backend, keeps data, matches the ORM models, and refuses schemas it does not know.

  Scenario: A new database is migrated to the head revision
    When I upgrade the database to "head"
    Then the current revision is the head revision
    And the schema matches the models exactly

  Scenario: Downgrade to base and upgrade again
    Given the database is upgraded to "head"
    When I downgrade the database to "base"
    Then the current revision is none
    And the database has no cleveragents tables
    When I upgrade the database to "head"
    Then the current revision is the head revision
    And the schema matches the models exactly

  Scenario: Data survives a repeated upgrade and reopening
    Given the database is upgraded to "head"
    And a changeset for plan "plan-keep" holding 3 entries is recorded
    When I upgrade the database to "head"
    And I open a new session factory on the database
    Then plan "plan-keep" still has 3 entries

  Scenario: Revision 0003 adds the error pattern tables and a downgrade to 0002 removes only them
    Given the database is upgraded to "head"
    Then the database has the tables "error_patterns, error_pattern_terms"
    When I downgrade the database to "0002"
    Then the current revision is "0002"
    And the database does not have the tables "error_patterns, error_pattern_terms"
    And the database has the tables "changesets, changeset_entries, tool_invocations, checkpoints"
    When I upgrade the database to "0003"
    Then the current revision is "0003"
    And the database has the tables "error_patterns, error_pattern_terms"
    When I upgrade the database to "head"
    Then the current revision is the head revision
    And the schema matches the models exactly

  Scenario: Error patterns survive a repeated upgrade; a downgrade to 0002 keeps the older data
    Given the database is upgraded to "head"
    And a changeset for plan "plan-keep" holding 3 entries is stored in the migrated database
    And an error pattern "keep-me" is stored in the migrated database
    When I upgrade the database to "head"
    Then error pattern "keep-me" is still stored, matched and counted after reopening the database
    When I downgrade the database to "0002"
    Then plan "plan-keep" still has 3 entries in the migrated database
    When I upgrade the database to "head"
    Then the migrated database holds no error patterns
    And plan "plan-keep" still has 3 entries in the migrated database

  Scenario: Revision 0005 rebuilds the text anchors of stored patterns; its downgrade restores 0004's
    Given the database is upgraded to "head"
    And error patterns with these texts are stored in the migrated database
      | pattern_id | text                  |
      | code       | ORA-1234567           |
      | stop       | x in y                |
      | short      | E42                   |
      | message    | No module named 'foo' |
      | name       | ImportError           |
    When I downgrade the database to "0004"
    Then the stored text anchors are
      | pattern_id | anchors                                                                          |
      | code       | ["6:ora-", "6:ra-1", "6:a-12", "6:-123", "6:1234", "6:2345", "6:3456", "6:4567"] |
      | stop       | ["1:in"]                                                                         |
      | short      | ["2:e42"]                                                                        |
      | message    | ["1:module"]                                                                     |
      | name       | ["6:impo", "6:mpor", "6:port", "6:orte", "6:rter", "6:terr", "6:erro", "6:rror"] |
    When I upgrade the database to "head"
    Then the stored text anchors are
      | pattern_id | anchors                                                  |
      | code       | ["7:ora-1234", "7:ra-12345", "7:a-123456", "7:-1234567"] |
      | stop       | ["4:x in", "4: in "]                                     |
      | short      | ["2:e42"]                                                |
      | message    | ["1:module"]                                             |
      | name       | ["7:importer", "7:mporterr", "7:porterro", "7:orterror"] |
    And the stored patterns are matched by their texts after reopening the database

  Scenario: Revision 0009 keys objects by their sha256's raw bytes; its downgrade writes hex again
    Given the database is upgraded to "head"
    And a checkpoint of 20 small files is stored in the migrated database
    When I downgrade the database to "0008"
    Then the current revision is "0008"
    And every stored object key is 64 lowercase hex digits, read raw
    When I upgrade the database to "head"
    Then every stored object key is 32 raw bytes, read raw
    And the schema matches the models exactly
    And the stored checkpoint verifies and restores exactly after reopening the database

  Scenario: Revision 0009's copy on SQLite never holds the objects' table twice
    Given a SQLite file made by this version holding 80 incompressible files of 100000 bytes
    When it is downgraded to "0008" and upgraded to "head" again
    Then its pages after each migration are at most 1.1 times its pages before
    And its checkpoint verifies and restores exactly

  Scenario: A database that was never migrated reports no revision
    Then the current revision is none

  Scenario Outline: An unknown or empty revision is refused
    When I try to <direction> the database to "<revision>"
    Then it fails with ValueError

    Examples:
      | direction | revision       |
      | upgrade   | not-a-revision |
      | upgrade   |                |
      | downgrade | 0001x          |

  Scenario: A schema newer than this version is refused
    Given the database is upgraded to "head"
    And the database claims revision "9999_from_the_future"
    When I try to open a session factory on the database
    Then it fails with DatabaseError
    And the error names "9999_from_the_future" and the head revision
    When I try to open a session factory on the database without migrating
    Then it fails with DatabaseError

  Scenario: Opening without migrating leaves a new database empty
    When I open a session factory on the database without migrating
    Then the current revision is none

  Scenario: Whether a database is at the head is known without Alembic
    Then the schema head known without Alembic is Alembic's head revision
    And the database is not at the schema head
    When I upgrade the database to "0008"
    Then the database is not at the schema head
    When I upgrade the database to "head"
    Then the database is at the schema head

  @persistent
  Scenario: A database at the head opens without Alembic, even while a migration holds the lock
    Given the database is upgraded to "head"
    And another connection holds the migration lock
    When a new process opens the database
    Then it opened the database without Alembic

  @persistent
  Scenario: A database below the head is migrated with Alembic when a process opens it
    Given the database is upgraded to "0008"
    When a new process opens the database
    Then it opened the database with Alembic
    And the current revision is the head revision

  @persistent
  Scenario: Several processes migrating one database at once migrate it once
    When 4 processes open the database at the same time
    Then every process succeeded
    And the current revision is the head revision

  Scenario Outline: Bad database URLs give a DatabaseError naming the URL without its password
    When I try to open a session factory on "<url>"
    Then it fails with DatabaseError
    And the error mentions "<shown>" but not "hunter2"

    Examples:
      | url                                              | shown               |
      | nosuchdb://user:hunter2@host/db                  | nosuchdb://user:*** |
      | postgresql+psycopg://user:hunter2@127.0.0.1:1/db | 127.0.0.1:1         |
      | mysql://user:hunter2@127.0.0.1/db                | mysql://user:***    |

  Scenario: An unreachable server is reported without migrating too
    When I try to open a session factory on "postgresql+psycopg://user:hunter2@127.0.0.1:1/db" without migrating
    Then it fails with DatabaseError
    And the error mentions "127.0.0.1:1" but not "hunter2"

  Scenario Outline: Session factories refuse nonsense arguments
    When I try to open a session factory with <argument>
    Then it fails with ValueError

    Examples:
      | argument     |
      | an empty URL |
      | a number     |

  Scenario: Repositories refuse a session factory that is not callable
    When I try to build a SqliteChangeSetStore with a string as session factory
    Then it fails with ValueError

  Scenario: The default URL is under XDG_DATA_HOME unless configured
    Then the default database URL follows CLEVERAGENTS_DATABASE_URL and XDG_DATA_HOME

  Scenario: Revision 0006 moves each checkpoint's diff into its row; its downgrade writes the rows back
    Given the database is upgraded to "0005"
    And two checkpoints with revision 0005's diff rows are stored in the migrated database
    When I upgrade the database to "head"
    Then the checkpoint repository reads those diffs back, sorted by path
    And the database does not have the tables "checkpoint_diffs"
    When I downgrade the database to "0005"
    Then the diff rows of revision 0005 are back
    When I upgrade the database to "head"
    Then the checkpoint repository reads those diffs back, sorted by path
    And the schema matches the models exactly
