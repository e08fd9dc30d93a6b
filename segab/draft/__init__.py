"""``segab init``: a finished experiment's data in, a commented config out.

- :mod:`segab.draft.profile`: what a table holds, measured inside its engine;
- :mod:`segab.draft.infer`: arms and their keys, the control, the split, the columns;
- :mod:`segab.draft.build`: a :class:`~segab.draft.build.Draft` from a profile;
- :mod:`segab.draft.render`: the commented YAML of a draft.

Example:
    >>> from segab.draft.infer import arm_keys
    >>> arm_keys([" Control", "No E-Mail"])
    ['control', 'no_e-mail']
"""

__all__: list[str] = []
