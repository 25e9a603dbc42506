Feature: Opening a database that does not exist
  cleveragents.open(url) creates and migrates a SQLite file (and its folder) that
  does not exist; with create=False it refuses one with MissingDatabaseError, a
  DatabaseError naming the absolute path, before anything is made. What has no
  file to miss (in-memory SQLite, PostgreSQL) opens as always, and an existing
  database at an older revision is still migrated.

  Scenario: create=False refuses a missing SQLite file and makes neither it nor its folder
    When I open "sqlite:///{tmp}/missing/plans.db" with create=False
    Then it fails with MissingDatabaseError
    And the error names "{tmp}/missing/plans.db"
    And "missing" does not exist in the scenario folder

  Scenario: A relative path is named as the absolute file it would be
    When I open the relative SQLite file "not/here.db" with create=False from the scenario folder
    Then it fails with DatabaseError
    And the error names "{tmp}/not/here.db"
    And "not" does not exist in the scenario folder

  Scenario: A SQLite URI is checked by its file, and an in-memory one has none
    When I open "sqlite:///file:{tmp}/gone.db?mode=rw&uri=true" with create=False
    Then it fails with MissingDatabaseError
    When I open "sqlite:///file:shared?mode=memory&cache=shared&uri=true" with create=False
    Then it succeeds
    When I open "sqlite://" with create=False
    Then it succeeds

  Scenario: A URL that cannot be read is left to the usual error
    When I open "not a database url" with create=False
    Then it fails with DatabaseError
    And the error mentions "not a database url" but not "no such secret"

  Scenario: By default a missing file and its folder are created and migrated
    When I open "sqlite:///{tmp}/new/folder/plans.db"
    Then it succeeds
    And "new/folder/plans.db" in the scenario folder is at the head revision

  Scenario: create=False still migrates an existing database at an older revision
    Given a migrated SQLite file "old.db" in the scenario folder at revision "0006"
    When I open "sqlite:///{tmp}/old.db" with create=False
    Then it succeeds
    And "old.db" in the scenario folder is at the head revision

  Scenario: The scenario database opens with create=False on every backend once it exists
    Given the scenario database is migrated
    When I open the scenario database with create=False
    Then it succeeds
