"""How tables and figures label results made from stand-in data (docs/stand-ins.md); kept
free of plotting and table libraries so every script's environment can use it."""

#: The note of every table row run on stand-in data, in place of any published value.
NOTE = "Stand-in data (docs/stand-ins.md): no published value is shown beside this row."
#: The first lines of any table with rows run on stand-in data.
HEADING = ("**Stand-in data.** These rows ran on generated data with the real datasets' "
           "shapes, formats and sizes (docs/stand-ins.md), not on the paper's data: they show "
           "how the methods run at this size, not what they cost on the real data, and no "
           "published value is shown beside them.")
#: Start of the title of any figure drawn from runs on stand-in data.
TITLE = "STAND-IN DATA (generated, not the paper's; docs/stand-ins.md): "
