Feature: The front door: cleveragents.open() and the package's top level
  One import and one call give a runtime everything; a closed database refuses
  every use, through itself or anything it handed out, with a DatabaseError.

  Scenario: A database closed by its with block refuses every use, and closes twice
    Given I open the test database through cleveragents.open()
    And I start a changeset of plan "plan-1" through it
    When its with block ends
    Then recording into the changeset through the store it handed out raises DatabaseError naming the database
    And listing plans through it raises DatabaseError naming the database
    And closing it again is fine
    And it describes itself as closed

  Scenario: The top level exports exactly the pinned names, and nothing else
    Then the package's exports are exactly the pinned names
    And every exported name can be read from the package
    And an unknown name is an AttributeError naming it
    And a new process importing cleveragents loads no SQLAlchemy
