*** Settings ***
Documentation       The command line itself: help, usage errors, exit codes and the
...                 one-line ``error:`` contract on stderr.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Use Fresh Database


*** Test Cases ***
Help Lists The Command Groups
    ${result}=    Run Bare Cleveragents    --help
    Should Have Succeeded    ${result}
    Should Contain    ${result.stdout}    Usage: cleveragents
    Should Contain    ${result.stdout}    --database-url
    Should Contain    ${result.stdout}    --debug
    FOR    ${group}    IN    plan    checkpoint    errors    db    demo
        Should Match Regexp    ${result.stdout}    (?m)^\\s+${group}\\s
    END

Plan Help Lists Its Commands
    ${result}=    Run Bare Cleveragents    plan    --help
    Should Have Succeeded    ${result}
    FOR    ${command}    IN    list    status    diff    rollback    cleanup    delete
        Should Match Regexp    ${result.stdout}    (?m)^\\s+${command}\\s
    END

Command Help Shows The Format Option
    ${result}=    Run Bare Cleveragents    plan    status    --help
    Should Have Succeeded    ${result}
    Should Contain    ${result.stdout}    PLAN_ID
    Should Contain    ${result.stdout}    --format

Reading The Default Database Does Not Create It
    ${path}=    Set Variable    ${SUITE_TMP}/cleveragents/cleveragents.db
    ${result}=    Run Bare Cleveragents    plan    list
    Should Be One Missing Database Error    ${result}    ${path}
    ${created}=    Run Bare Cleveragents    db    upgrade
    Should Have Succeeded    ${created}
    File Should Exist    ${path}
    ${listed}=    Run Bare Cleveragents    plan    list    --format    json
    Should Have Succeeded    ${listed}
    Should Be Equal    ${listed.stdout}    []

Version Is Printed
    ${result}=    Run Bare Cleveragents    --version
    Should Have Succeeded    ${result}
    Should Match Regexp    ${result.stdout}    ^cleveragents \\d+\\.\\d+

Unknown Option Is A Usage Error
    ${result}=    Run Cleveragents    --no-such-option
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    --no-such-option
    Should Be Empty    ${result.stdout}

Unknown Command Is A Usage Error
    ${result}=    Run Cleveragents    plan    frobnicate
    Should Have Failed With    ${result}    2

Missing Argument Is A Usage Error
    ${result}=    Run Cleveragents    plan    status
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    PLAN_ID

Group Without A Command Prints Its Help And Fails
    ${result}=    Run Cleveragents    plan
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stdout}    status

Bad Format Value Is A Usage Error
    ${result}=    Run Cleveragents    plan    status    some-plan    --format    xml
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    --format

Empty Database URL Is A Usage Error
    ${result}=    Run Bare Cleveragents    --database-url    ${EMPTY}    plan    status    p
    Should Have Failed With    ${result}    2

Unreachable Database Is An Operational Error Without The Password
    ${result}=    Run Bare Cleveragents
    ...    --database-url    postgresql+psycopg://u:secret@127.0.0.1:1/x    plan    status    p
    Should Have Failed With    ${result}    1
    Should Not Contain    ${result.stderr}    secret
    Should Contain    ${result.stderr}    127.0.0.1

Unknown URL Scheme Is An Operational Error
    ${result}=    Run Bare Cleveragents    --database-url    nosuchdb://x    plan    status    p
    Should Have Failed With    ${result}    1
    Should Contain    ${result.stderr}    nosuchdb

Debug Shows The Traceback Before The Error Line
    ${result}=    Run Bare Cleveragents    --debug    --database-url    nosuchdb://x
    ...    plan    status    p
    Should Be Equal As Integers    ${result.rc}    1
    Should Contain    ${result.stderr}    Traceback (most recent call last)
    ${lines}=    Split To Lines    ${result.stderr}
    Should Start With    ${lines}[-1]    error:

Debug Logs Go To Stderr Only
    Create File    ${DB_FILE}
    ${result}=    Run Cleveragents    --debug    db    current
    Should Be Equal As Integers    ${result.rc}    0
    Should Be Equal    ${result.stdout}    none
    Should Not Be Empty    ${result.stderr}

Database URL Comes From The Environment
    ${result}=    Run Process    ${CLI}    db    upgrade
    ...    env:CLEVERAGENTS_DATABASE_URL=${DB_URL}    env:XDG_DATA_HOME=${SUITE_TMP}
    Should Have Succeeded    ${result}
    ${current}=    Run Cleveragents    db    current
    Should Have Succeeded    ${current}
    Should Be Equal    ${current.stdout}    ${result.stdout}
