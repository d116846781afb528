Route #1: 98 89 47 29 36 72 57
Route #2: 38 26 48 94
Route #3: 18 4
Route #4: 1 70 5
Route #5: 34 64 96 87 43 45 2 49 7
Route #6: 92 9 55
Route #7: 51 62 99
Route #8: 74 69 16 76
Route #9: 86 54 68
Route #10: 71 83 52
Route #11: 65 78 6 37 88
Route #12: 25 10 39
Route #13: 14 28 42 63
Route #14: 81 91 27 21
Route #15: 59 60 82
Route #16: 67 77 44
Route #17: 66 84 90 13
Route #18: 15 22 41 20
Route #19: 3 40 12
Route #20: 75 93 33
Route #21: 31 73 53
Route #22: 56 8
Route #23: 23 19 50
Route #24: 100 61 97
Route #25: 58 17 80
Route #26: 30 85 11 79
Route #27: 35 46 24 95 32
Cost: 29159
