@persistent
Feature: Every Python example in the README and the docs runs, twice in a row
  A user copies the examples as they are. Each page's Python blocks run in order
  as one script in a new process, in an empty folder, on the default database of
  a fresh XDG_DATA_HOME; then the same script runs again there (an example that
  only works once, say because it creates an id that then exists, fails here).

  Scenario: The examples of every page run twice
    Then every page's Python examples run twice in a row in a new process
