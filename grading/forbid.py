ALTERNATIVES = {}
def with_alternatives(names):
    return set(names)
