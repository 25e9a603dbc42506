Feature: The async API, cleveragents.aio
  An agent runtime built on asyncio awaits every operation of the database:
  `async with cleveragents.aio.open(url) as db`. Each coroutine keeps the
  guarantees of its sync method; a cancelled call is finished or has had no
  effect when CancelledError reaches the caller, and the database stays usable.
  Each scenario runs its coroutines in one event loop on the suite's backend.

  Scenario: Every method of the sync API is a coroutine of the same name
    When I open the database with cleveragents.aio.open and with cleveragents.open
    Then every public method of the Database is a coroutine method of the AsyncDatabase
    And every public method of its changesets, checkpoints and errors is a coroutine method of their async faces
    And url, changesets, checkpoints and errors of the AsyncDatabase are plain attributes

  Scenario: A plan's whole life, awaited
    When I await a plan's whole life through cleveragents.aio.open
    Then the awaited results are those of the sync API

  Scenario: A cancelled record_many is written whole or not at all
    When I cancel a task awaiting record_many of 3000 entries at 8 random moments
    Then after each CancelledError the batch was wholly present or wholly absent
    And 200 ms later no batch had changed
    And the database was still usable afterwards

  Scenario: A cancelled snapshot is stored whole or not at all
    Given a sandbox of 400 files
    When I cancel a task awaiting a snapshot of the sandbox at 6 random moments
    Then after each CancelledError the snapshot was stored whole or not at all
    And 200 ms later no snapshot had changed
    And the database was still usable afterwards

  Scenario: Concurrent tasks on one database lose nothing and keep each changeset's order
    When 20 tasks each start a changeset for plan "busy" and record 25 entries one by one, all at once
    Then every changeset holds its 25 entries in the order they were recorded
    And plan "busy" holds 500 entries

  Scenario: A cancelled plan refuses the writes of concurrent tasks
    When 8 tasks keep recording for plan "doomed" while another task cancels it
    Then every writing task was stopped by PlanCancelledError
    And the tombstone of plan "doomed" is there and the plan holds no entry

  @unit
  Scenario: A call cancelled while it runs is awaited to its end, through a second cancellation
    When a task awaiting a 300 ms worker call is cancelled twice while the call runs
    Then CancelledError reached the task only after the call had finished

  @unit
  Scenario: A call cancelled while it waits for a worker never runs
    When a task awaiting a call queued behind a busy worker is cancelled
    Then CancelledError reached the task at once and the queued call never ran

  @unit
  Scenario: A progress callback runs on the event loop's thread
    When a call on a worker thread reports its progress 5 times
    Then every progress call ran on the event loop's thread, in order, before the call returned

  Scenario: A closed async database refuses every call
    When I close the async database twice and then call it and its stores
    Then every call failed with DatabaseError

  @unit
  Scenario: Full collections are put off and the switch interval is short only while calls run
    Given the application's collector thresholds are 700, 10, 10 and its switch interval 5 ms
    When a worker call returns, another raises and a third is cancelled while it runs
    Then during each call the thresholds were 700, 10, 1000 and the switch interval 1 ms
    And after each call the thresholds were 700, 10, 10 and the switch interval 5 ms again

  @unit
  Scenario: Overlapping calls give the settings back when the last of them ends
    Given the application's collector thresholds are 700, 10, 10 and its switch interval 5 ms
    When two calls on two workers overlap and the first one ends before the second
    Then the thresholds were 700, 10, 1000 until the second call ended, and 700, 10, 10 after it

  @unit
  Scenario: Settings the application changes while a call runs are its own
    Given the application's collector thresholds are 700, 10, 10 and its switch interval 5 ms
    When the application sets thresholds 500, 5, 5 and a 2 ms switch interval while a call runs
    Then after the call the thresholds are 500, 5, 5 and the switch interval 2 ms
    And a call on a collector the application switched off with a threshold of 0 leaves it off

  @unit
  Scenario: Paced work empties its own collections with pause points and leaves a core to the loop
    When paced work releases a list, a dict and a set of 5000 items each
    Then the three are empty, with a pause point before each piece of 1024 items
    And the same collections released by unpaced work are left whole, to be freed as usual
    And paced work's helper pools have one thread fewer than the cores, at least one

  @unit
  Scenario: A paced map returns what map returns, in order, and stops at an error
    When a worker call maps 2000 items on a pool through the paced map
    Then the results are those of the builtin map, in order
    And a failing item's error reaches the caller and the calls after it were not all run
