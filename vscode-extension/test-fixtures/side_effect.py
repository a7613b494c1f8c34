"""Has a visible side effect when run: the trust tests check whether it ran."""


def announce():
    print("this file's code ran")
    return 1


assert announce() == 1
