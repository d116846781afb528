Route #1: 7 2 45 43 29 36 72 57
Route #2: 17 8
Route #3: 79 11 85 30
Route #4: 87 37 6 49 14
Route #5: 83 51 81
Route #6: 23 61 100
Route #7: 80 94 56 21
Route #8: 44 88 67 40
Route #9: 24 95 73 53 33 32
Route #10: 58 12 5
Route #11: 59 60 82
Route #12: 54 70 1
Route #13: 50 91 52
Route #14: 18 10 39
Route #15: 3 77 63
Route #16: 74 13 4
Route #17: 93 75
Route #18: 68 90 84 66
Route #19: 31 46 35
Route #20: 89 98 99 62 71
Route #21: 34 64 96 48 26 47 38
Route #22: 20 41 22 15
Route #23: 92 9 86
Route #24: 28 42 78 65 25
Route #25: 19 97 27
Route #26: 69 16 55 76
Cost: 27591
