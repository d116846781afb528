"""The dispatch day: plan life cycle, field events into collections, re-plans, route exports, sheet ticks.

Domain logic between proto messages and storage rows; the servicer (`wastesvc.servicers.dispatch`) does
the I/O.
"""
